-- voiced for Neovim: user commands, the right-click menu, the settings sent
-- to the server, the preview of a rewrite and ghost text. Every command asks
-- the server: rewriting is the server's code action, applied by
-- vim.lsp.buf.code_action; nothing here re-implements it.
local M = {}

local NAME = 'voiced'

--- What setup() takes. `preview` and `inline` go to the server as the `voiced` settings
--- section (voiced.preview.*, voiced.inline.*); `keys` are the plugin's own.
M.defaults = {
  preview = { multiParagraph = true, singleParagraph = false },
  inline = { autoTrigger = false, debounceMs = 600 },
  keys = {},
}

M.options = vim.deepcopy(M.defaults)

---@param bufnr integer?
---@return vim.lsp.Client?
function M.client(bufnr)
  return vim.lsp.get_clients({ name = NAME, bufnr = bufnr or 0 })[1]
end

local function say(message, level)
  vim.notify('voiced: ' .. message, level or vim.log.levels.INFO)
end

local function attached_client()
  local client = M.client()
  if not client then
    say('the voiced language server is not attached to this buffer (see :checkhealth voiced).',
      vim.log.levels.WARN)
  end
  return client
end

--- Ask the server for the action titled `title` on a range and apply it.
--- range: { start = { row, col }, ['end'] = { row, col } } (rows 1-based, cols 0-based bytes).
local function run_action(title, range)
  if not attached_client() then
    return
  end
  vim.lsp.buf.code_action({
    range = range,
    context = { only = { 'refactor.rewrite' }, diagnostics = {} },
    filter = function(action)
      return vim.startswith(action.title, title)
    end,
    apply = true,
  })
end

--- `:[range]VoicedRewrite`: the lines of the range (or the visual selection).
function M.rewrite(first, last)
  local last_line = vim.api.nvim_buf_get_lines(0, last - 1, last, true)[1]
  run_action('Rewrite in my voice', {
    start = { first, 0 },
    -- make_given_range_params adds one column when 'selection' is inclusive.
    ['end'] = { last, math.max(#last_line - (vim.o.selection == 'exclusive' and 0 or 1), 0) },
  })
end

--- `:VoicedRewrite` without a range: an empty range at the cursor; the server takes its paragraph.
function M.rewrite_paragraph()
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local end_col = col - (vim.o.selection == 'exclusive' and 0 or 1)
  run_action('Rewrite in my voice', { start = { row, col }, ['end'] = { row, math.max(end_col, 0) } })
end

--- `:VoicedContinue`: write on after the paragraph under the cursor.
function M.continue()
  local row = vim.api.nvim_win_get_cursor(0)[1]
  local count = vim.api.nvim_buf_line_count(0)
  while row < count and vim.trim(vim.api.nvim_buf_get_lines(0, row, row + 1, true)[1]) ~= '' do
    row = row + 1
  end
  local line = vim.api.nvim_buf_get_lines(0, row - 1, row, true)[1]
  local col = #line - (vim.o.selection == 'exclusive' and 0 or 1)
  -- An empty range at the end of the paragraph: the server offers "Continue in my voice" there.
  run_action('Continue in my voice', { start = { row, #line }, ['end'] = { row, math.max(col, 0) } })
end

--- Whether the attached server executes `command` (it lists it at initialize).
function M.offers(client, command)
  local provider = client.server_capabilities.executeCommandProvider
  return provider ~= nil and vim.list_contains(provider.commands or {}, command)
end

local function execute(command, arguments, done)
  local client = attached_client()
  if not client then
    return
  end
  if not M.offers(client, command) then
    say(('this voiced server does not offer %s; run `voiced %s` in a terminal instead.'):format(
      command, command:gsub('^voiced%.', '')), vim.log.levels.WARN)
    return
  end
  client:exec_cmd({ title = command, command = command, arguments = arguments }, { bufnr = 0 }, function(err, result)
    if err then
      say(command .. ' failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif done then
      done(result)
    end
  end)
end

--- `:VoicedStatus`: the server shows a one-line summary (window/showMessage): each voice's
--- active adapter and its versions.
function M.status()
  execute('voiced.status', {})
end

--- `:VoicedTrain`: only when the server offers voiced.train.
function M.train()
  execute('voiced.train', {})
end

--- The versions that can be made active, newest first, from voiced.status's `adapters`.
---@return { voice: string, version: integer, status: string }[]
function M.activatable(status)
  local items = {}
  local adapters = type(status) == 'table' and status.adapters or nil
  for voice, versions in pairs(type(adapters) == 'table' and adapters or {}) do
    for _, v in ipairs(versions) do
      if v.status == 'active' or v.status == 'candidate' or v.status == 'rejected' then
        table.insert(items, { voice = voice, version = v.version, status = v.status })
      end
    end
  end
  table.sort(items, function(a, b)
    return a.voice == b.voice and a.version > b.version or a.voice < b.voice
  end)
  return items
end

--- `:VoicedActivate`: pick one of the adapter versions (vim.ui.select) and make it active.
function M.activate()
  execute('voiced.status', { { quiet = true } }, function(status)
    local items = M.activatable(status)
    if #items == 0 then
      say('there is no adapter version to activate yet: run :VoicedTrain (or `voiced train`) first.')
      return
    end
    vim.ui.select(items, {
      prompt = 'Activate adapter version',
      format_item = function(item)
        return ('%s v%d (%s)'):format(item.voice, item.version, item.status)
      end,
    }, function(choice)
      if choice then
        execute('voiced.activate', { { voice = choice.voice, version = choice.version } })
      end
    end)
  end)
end

--- `:VoicedRollback [voice]`: back to the previously active adapter version.
function M.rollback(voice)
  execute('voiced.rollback', { { voice = voice ~= '' and voice or nil } })
end

local function add_commands()
  local command = vim.api.nvim_create_user_command
  command('VoicedRewrite', function(args)
    if args.range == 0 then
      M.rewrite_paragraph()
    else
      M.rewrite(args.line1, args.line2)
    end
  end, { range = true, desc = 'Rewrite the lines (or the paragraph) in your voice' })
  command('VoicedContinue', M.continue, { desc = 'Continue the paragraph under the cursor in your voice' })
  command('VoicedInline', function()
    require('voiced.inline').trigger_at_paragraph_end()
  end, { desc = 'Ghost text: a continuation in your voice at the end of the paragraph (Tab accepts)' })
  command('VoicedStatus', M.status, { desc = "Show voiced's daemon, voices and adapters" })
  command('VoicedTrain', M.train, { desc = 'Train your voice now (if the server offers it)' })
  command('VoicedActivate', M.activate, { desc = 'Pick an adapter version and make it active' })
  command('VoicedRollback', function(args)
    M.rollback(args.args)
  end, { nargs = '?', desc = 'Go back to the previously active adapter version' })
end

local function add_menu()
  -- Right-click (mousemodel=popup_setpos, the default): on the selection or the clicked line.
  vim.cmd([[
    nnoremenu PopUp.Rewrite\ in\ my\ voice <Cmd>VoicedRewrite<CR>
    xnoremenu PopUp.Rewrite\ in\ my\ voice :VoicedRewrite<CR>
    nnoremenu PopUp.Continue\ in\ my\ voice <Cmd>VoicedContinue<CR>
  ]])
end

--- The ghost-text settings in force for `bufnr`'s (or `client`'s) server: the client's settings, then the defaults.
---@param bufnr integer?
---@param client vim.lsp.Client?
---@return { autoTrigger: boolean, debounceMs: integer }
function M.inline_settings(bufnr, client)
  client = client or M.client(bufnr)
  local voiced = client and client.settings and client.settings.voiced
  local inline = type(voiced) == 'table' and type(voiced.inline) == 'table' and voiced.inline or {}
  return vim.tbl_extend('force', M.defaults.inline, inline)
end

--- Merge `section` into the `voiced` settings of vim.lsp.config and of running clients (which are told).
local function send_settings(section)
  local config = vim.lsp.config[NAME] or {}
  local current = vim.tbl_get(config, 'settings', NAME)
  local settings = vim.tbl_deep_extend('force', type(current) == 'table' and current or {}, section)
  vim.lsp.config(NAME, { settings = { [NAME] = settings } })
  for _, client in ipairs(vim.lsp.get_clients({ name = NAME })) do
    client.settings = vim.tbl_deep_extend('force', client.settings or {}, { [NAME] = settings })
    client:notify('workspace/didChangeConfiguration', { settings = client.settings })
  end
end

local function on_attach(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if client and client.name == NAME then
    require('voiced.inline').attach(client, args.buf)
  end
end

--- Called by plugin/voiced.lua with no options, and by the writer with theirs (before or after):
--- options given once stay, and settings already in vim.lsp.config('voiced', ...) win over defaults.
---@param opts? { preview?: { multiParagraph?: boolean, singleParagraph?: boolean }, inline?: { autoTrigger?: boolean, debounceMs?: integer }, keys?: table<string, string|false> }
function M.setup(opts)
  opts = opts or {}
  M.options = vim.tbl_deep_extend('force', M.options, opts)
  local config = vim.lsp.config[NAME] or {}
  local given = vim.tbl_get(config, 'settings', NAME) or {}
  local section = {}
  for _, key in ipairs({ 'preview', 'inline' }) do
    -- setup()'s options, else what vim.lsp.config already says, else the defaults.
    local from_config = type(given[key]) == 'table' and given[key] or {}
    section[key] = vim.tbl_deep_extend('force', M.defaults[key], from_config, opts[key] or {})
  end
  send_settings(section)

  if not M.did_setup then
    M.did_setup = true
    add_commands()
    add_menu()
    require('voiced.keys').plugs()
    vim.api.nvim_create_autocmd('LspAttach', {
      group = vim.api.nvim_create_augroup('voiced', { clear = true }),
      callback = on_attach,
    })
  end
  if vim.g.voiced_enable ~= false then
    vim.lsp.enable(NAME)
  end
end

return M

-- The preview of a rewrite before it lands: the server's `voiced/preview`
-- request (sent because the client said initializationOptions.voicedPreview)
-- opens a floating window with a word-level diff; the writer's key is the
-- answer. The server applies an accepted rewrite itself (workspace/applyEdit),
-- so the buffer changes once and one `u` restores the original.
local worddiff = require('voiced.worddiff')

local M = {}

M.namespace = vim.api.nvim_create_namespace('voiced.preview')

local HIGHLIGHTS = { del = 'VoicedPreviewDelete', add = 'VoicedPreviewAdd' }

local function define_highlights()
  vim.api.nvim_set_hl(0, 'VoicedPreviewDelete', { default = true, link = 'DiffDelete' })
  vim.api.nvim_set_hl(0, 'VoicedPreviewAdd', { default = true, link = 'DiffAdd' })
  vim.api.nvim_set_hl(0, 'VoicedPreviewEdited', { default = true, link = 'IncSearch' })
end

--- The keys of the preview window (setup({ preview_keys = ... }) may change them).
M.keys = {
  accept = { 'a' },
  reject = { 'r', 'q', '<Esc>' },
  edit = { 'e' },
}

---@type table<integer, { buf: integer, params: table }> open previews by window
M.open = {}

local function footer()
  return (' %s accept · %s reject · %s accept and edit '):format(M.keys.accept[1], M.keys.reject[1], M.keys.edit[1])
end

--- After an "edit" answer: once the server's edit lands, go to the rewrite, select-able with `gv`.
local function open_for_editing(params, client_id)
  local bufnr = vim.uri_to_bufnr(params.uri)
  local client = vim.lsp.get_client_by_id(client_id)
  local encoding = client and client.offset_encoding or 'utf-16'
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    return
  end
  -- The edit replaces from the range's start, so the start stays where it is.
  local position = params.range.start
  local line = vim.api.nvim_buf_get_lines(bufnr, position.line, position.line + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, encoding, position.character, false)
  local start = { position.line, ok and col or position.character }
  local armed = true -- the server's edit comes at once; a later change of the writer's is not it
  vim.defer_fn(function()
    armed = false
  end, 30000)
  vim.api.nvim_buf_attach(bufnr, false, {
    on_lines = function()
      if not armed then
        return true
      end
      vim.schedule(function()
        local lines = vim.split(params.proposal, '\n', { plain = true })
        local last_row = start[1] + #lines - 1
        local last_col = (#lines == 1 and start[2] or 0) + #lines[#lines]
        last_row = math.min(last_row, vim.api.nvim_buf_line_count(bufnr) - 1)
        local win = vim.fn.bufwinid(bufnr)
        if win == -1 then
          vim.api.nvim_set_current_buf(bufnr)
          win = vim.api.nvim_get_current_win()
        end
        vim.api.nvim_set_current_win(win)
        vim.api.nvim_win_set_cursor(win, { start[1] + 1, start[2] })
        vim.api.nvim_buf_set_mark(bufnr, '<', start[1] + 1, start[2], {})
        vim.api.nvim_buf_set_mark(bufnr, '>', last_row + 1, math.max(last_col - 1, 0), {})
        vim.hl.range(bufnr, M.namespace, 'VoicedPreviewEdited', start, { last_row, last_col }, { timeout = 1500 })
      end)
      return true -- detach: only the server's edit matters
    end,
  })
end

--- Show the diff of `params` (the `voiced/preview` params) and call `done(outcome)` once.
---@param params { id: string, uri: string, range: lsp.Range, original: string, proposal: string, label: string? }
---@param done fun(outcome: 'accepted'|'rejected'|'edit')
---@return integer win
function M.show(params, done)
  define_highlights()
  local lines, marks = worddiff.layout(worddiff.diff(params.original or '', params.proposal or ''))
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, true, lines)
  for _, mark in ipairs(marks) do
    vim.api.nvim_buf_set_extmark(buf, M.namespace, mark.row, mark.col, {
      end_col = mark.end_col,
      hl_group = HIGHLIGHTS[mark.kind],
    })
  end
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'voicedpreview'

  local width = math.max(math.min(80, vim.o.columns - 4), 20)
  local win = vim.api.nvim_open_win(buf, true, {
    relative = 'editor',
    width = width,
    height = 1,
    row = 1,
    col = math.max(math.floor((vim.o.columns - width) / 2) - 1, 0),
    style = 'minimal',
    border = 'rounded',
    title = ' ' .. (params.label or 'Rewrite in my voice') .. ' ',
    title_pos = 'center',
    footer = footer(),
    footer_pos = 'center',
  })
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  local height = vim.api.nvim_win_text_height(win, {}).all
  vim.api.nvim_win_set_config(win, { height = math.max(math.min(height, vim.o.lines - 6), 1) })
  M.open[win] = { buf = buf, params = params }

  local finished = false
  local function finish(outcome)
    if finished then
      return
    end
    finished = true
    M.open[win] = nil
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_close(win, true)
    end
    done(outcome)
  end
  for outcome, keys in pairs({ accepted = M.keys.accept, rejected = M.keys.reject, edit = M.keys.edit }) do
    for _, key in ipairs(keys) do
      vim.keymap.set('n', key, function()
        finish(outcome)
      end, { buffer = buf, nowait = true, desc = 'voiced preview: ' .. outcome })
    end
  end
  -- Closing the window any other way (:q, <C-w>c) is a rejection: nothing changes.
  vim.api.nvim_create_autocmd('WinClosed', {
    pattern = tostring(win),
    once = true,
    callback = function()
      vim.schedule(function()
        finish('rejected')
      end)
    end,
  })
  return win
end

--- Handler of the server's `voiced/preview` request: answers once the writer chose.
--- Server requests run in a coroutine (vim.lsp.rpc), so the handler can wait for a key.
---@return { outcome: string }?, lsp.ResponseError?
function M.handler(_, params, ctx)
  local co, main = coroutine.running()
  if not co or main then
    return nil, vim.lsp.rpc_response_error(vim.lsp.protocol.ErrorCodes.InternalError, 'cannot wait for the writer here')
  end
  M.show(params, function(outcome)
    if outcome == 'edit' then
      open_for_editing(params, ctx.client_id)
    end
    vim.schedule(function()
      coroutine.resume(co, outcome)
    end)
  end)
  local outcome = coroutine.yield()
  return { outcome = outcome }
end

return M

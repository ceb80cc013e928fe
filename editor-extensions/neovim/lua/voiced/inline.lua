-- Ghost-text "Continue in my voice" with Neovim 0.12's vim.lsp.inline_completion:
-- the server answers textDocument/inlineCompletion with the voice's
-- continuation at the cursor, Neovim shows it as ghost text and
-- vim.lsp.inline_completion.get() accepts it (the item's command,
-- voiced.inlineAccepted, tells the server).
--
-- Neovim's own automatic requests (every pause in Insert mode, after 200 ms)
-- are replaced for voiced's buffers by the writer's settings: none unless
-- voiced.inline.autoTrigger is on, then after voiced.inline.debounceMs. Typing
-- or moving away cancels a pending request at once ($/cancelRequest: the
-- daemon stops generating) and hides the ghost text.
local M = {}

local METHOD = 'textDocument/inlineCompletion'
local INVOKED, AUTOMATIC = 1, 2

--- Whether this Neovim has LSP inline completion (0.12+).
function M.available()
  return vim.lsp.inline_completion ~= nil
end

--- The buffer's inline-completion state inside Neovim (its Completor); nil when this Neovim keeps it elsewhere.
local function completor(bufnr)
  local ok, capability = pcall(require, 'vim.lsp._capability')
  local class = ok and type(capability) == 'table' and type(capability.all) == 'table' and capability.all.inline_completion
  local found = class and type(class.active) == 'table' and class.active[bufnr] or nil
  if found and type(found.request) == 'function' and type(found.abort) == 'function' then
    return found
  end
end

---@return { autoTrigger: boolean, debounceMs: integer }
local function settings(bufnr)
  return require('voiced').inline_settings(bufnr)
end

local function same_place(a, b)
  return a ~= nil and b ~= nil and a[1] == b[1] and a[2] == b[2]
end

--- Replace the Completor's automatic request (called on InsertEnter, CursorMovedI, TextChangedP).
local function on_move(self)
  local win = vim.fn.bufwinid(self.bufnr)
  local here = win ~= -1 and vim.api.nvim_win_get_cursor(win) or nil
  if same_place(self._voiced_anchor, here) then
    self:show() -- still where the suggestion was asked for (or where an accepted word ended)
    return
  end
  self._voiced_anchor = nil
  self:abort()
  if self._voiced_timer then
    self._voiced_timer:stop()
    self._voiced_timer = nil
  end
  local wanted = settings(self.bufnr)
  if not wanted.autoTrigger then
    return
  end
  self._voiced_timer = vim.defer_fn(function()
    self._voiced_timer = nil
    if vim.api.nvim_get_mode().mode:match('^i') and vim.api.nvim_get_current_buf() == self.bufnr then
      self._voiced_anchor = vim.api.nvim_win_get_cursor(0)
      self:request(AUTOMATIC)
    end
  end, wanted.debounceMs)
end

local function take_over(c)
  if c and not c._voiced then
    c._voiced = true
    c.automatic_request = on_move
  end
  return c
end

--- Turn ghost text on for `bufnr` when the voiced `client` offers it.
function M.attach(client, bufnr)
  if not M.available() or not client:supports_method(METHOD, bufnr) then
    return
  end
  vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  take_over(completor(bufnr))
  require('voiced.keys').inline(bufnr)
end

--- Ask for a continuation at the cursor now (an explicit trigger, answered whatever autoTrigger says).
---@return boolean asked
function M.trigger()
  local bufnr = vim.api.nvim_get_current_buf()
  local c = take_over(completor(bufnr))
  if not c then
    vim.notify(
      'voiced: ghost text needs Neovim 0.12 and a voiced server that offers it (:checkhealth voiced); :VoicedContinue writes on instead.',
      vim.log.levels.WARN
    )
    return false
  end
  c:abort() -- a new request replaces the one before
  c._voiced_anchor = vim.api.nvim_win_get_cursor(0)
  c:request(INVOKED)
  return true
end

--- `:VoicedInline`: from Normal mode go to the end of the paragraph, start Insert mode there and ask.
function M.trigger_at_paragraph_end()
  if vim.api.nvim_get_mode().mode:match('^i') then
    return M.trigger()
  end
  local row = vim.api.nvim_win_get_cursor(0)[1]
  local count = vim.api.nvim_buf_line_count(0)
  while row < count and vim.trim(vim.api.nvim_buf_get_lines(0, row, row + 1, true)[1]) ~= '' do
    row = row + 1
  end
  local line = vim.api.nvim_buf_get_lines(0, row - 1, row, true)[1]
  vim.api.nvim_win_set_cursor(0, { row, math.max(#line - 1, 0) })
  vim.api.nvim_create_autocmd('InsertEnter', {
    buffer = 0,
    once = true,
    callback = function()
      vim.schedule(M.trigger)
    end,
  })
  vim.cmd('startinsert!')
end

--- Accept the whole ghost text. false when none is shown.
function M.accept()
  return vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.get()
end

--- Accept the next word of the ghost text and keep showing the rest. false when none is shown.
function M.accept_word()
  if not vim.lsp.inline_completion then
    return false
  end
  local bufnr = vim.api.nvim_get_current_buf()
  return vim.lsp.inline_completion.get({
    on_accept = function(item)
      local text = type(item.insert_text) == 'string' and item.insert_text or item.insert_text.value
      local word = text:match('^%s*%S+') or text
      local rest = text:sub(#word + 1)
      local win = vim.fn.bufwinid(bufnr)
      local start = item.range and item.range.start:to_extmark() or vim.pos.cursor(vim.api.nvim_win_get_cursor(win)):to_extmark()
      local finish = item.range and item.range.end_:to_extmark() or start
      local lines = vim.split(word, '\n', { plain = true })
      vim.api.nvim_buf_set_text(bufnr, start[1], start[2], finish[1], finish[2], lines)
      local cursor = { start[1] + #lines, (#lines == 1 and start[2] or 0) + #lines[#lines] }
      vim.api.nvim_win_set_cursor(win, cursor)
      local client = vim.lsp.get_client_by_id(item.client_id)
      if item.command and client then
        client:exec_cmd(item.command, { bufnr = bufnr }) -- any part accepted counts as accepted
      end
      local c = completor(bufnr)
      if rest ~= '' and c and client and c.client_state[item.client_id] then
        local position = vim.lsp.util.make_position_params(win, client.offset_encoding).position
        c.client_state[item.client_id].items = {
          { insertText = rest, range = { start = position, ['end'] = position } },
        }
        c._voiced_anchor = cursor
        c:select(1)
      end
    end,
  })
end

--- Hide the ghost text without taking any of it. false when none is shown.
function M.dismiss()
  if not vim.lsp.inline_completion then
    return false
  end
  local c = completor(vim.api.nvim_get_current_buf())
  if c then
    c._voiced_anchor = nil
  end
  return vim.lsp.inline_completion.get({ on_accept = function() end })
end

--- The ghost text shown in `bufnr` now (its first line as displayed), or nil.
function M.shown(bufnr)
  local ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
  if not ns then
    return nil
  end
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(bufnr or 0, ns, 0, -1, { details = true })) do
    local chunks = mark[4].virt_text or {}
    local parts = vim.tbl_map(function(chunk)
      return chunk[1]
    end, chunks)
    for _, line in ipairs(mark[4].virt_lines or {}) do
      table.insert(parts, '\n')
      for _, chunk in ipairs(line) do
        table.insert(parts, chunk[1])
      end
    end
    return table.concat(parts)
  end
end

return M

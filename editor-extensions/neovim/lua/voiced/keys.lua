-- Insert-mode keys for ghost text: <Plug> mappings always, and the default
-- keys (setup({ keys = ... }); false leaves one out) on buffers with the
-- voiced server. Without ghost text shown a key does what it did before:
-- a mapping made in Lua (Neovim's own <Tab> for snippets, completion
-- plugins) is called; a key mapped in Vimscript is left to that mapping.
local M = {}

M.defaults = {
  inline_trigger = '<M-\\>',
  inline_accept = '<Tab>',
  inline_accept_word = '<M-Right>',
  inline_dismiss = '<C-]>',
}

local function inline()
  return require('voiced.inline')
end

-- Each action: what it does, and whether the key falls through when no ghost text is shown.
local ACTIONS = {
  inline_trigger = { plug = '<Plug>(voiced-inline-trigger)', run = function() inline().trigger() end },
  inline_accept = { plug = '<Plug>(voiced-inline-accept)', run = function() return inline().accept() end, falls_through = true },
  inline_accept_word = { plug = '<Plug>(voiced-inline-accept-word)', run = function() return inline().accept_word() end, falls_through = true },
  inline_dismiss = { plug = '<Plug>(voiced-inline-dismiss)', run = function() return inline().dismiss() end, falls_through = true },
}

--- The global <Plug> mappings (once, at setup).
function M.plugs()
  for name, action in pairs(ACTIONS) do
    vim.keymap.set('i', action.plug, action.run, { desc = 'voiced: ' .. name:gsub('_', ' ') })
  end
end

--- What `key` does in Insert mode without voiced (keys for an expr mapping), or nil to leave it alone.
---@return (fun(): string)?
function M.fallback(key, bufnr)
  local previous = vim.api.nvim_buf_call(bufnr, function()
    return vim.fn.maparg(key, 'i', false, true)
  end)
  if vim.tbl_isempty(previous) then
    return function()
      return key
    end
  end
  if type(previous.desc) == 'string' and vim.startswith(previous.desc, 'voiced:') then
    return nil -- mapped already (the server attached again)
  end
  local callback = previous.callback
  if type(callback) ~= 'function' then
    return nil
  end
  return function()
    local result = callback()
    if previous.expr == 1 and type(result) == 'string' then
      return result
    end
    return ''
  end
end

--- The default keys in `bufnr`, unless the writer mapped them already or turned them off.
function M.inline(bufnr)
  local keys = require('voiced').options.keys or {}
  for name, action in pairs(ACTIONS) do
    local key = keys[name]
    if key == nil then
      key = M.defaults[name]
    end
    local fallback = key and M.fallback(key, bufnr)
    if fallback then
      if action.falls_through then
        vim.keymap.set('i', key, function()
          if action.run() then
            return ''
          end
          return fallback()
        end, { buffer = bufnr, expr = true, desc = 'voiced: ' .. name:gsub('_', ' ') })
      else
        vim.keymap.set('i', key, action.run, { buffer = bufnr, desc = 'voiced: ' .. name:gsub('_', ' ') })
      end
    end
  end
end

return M

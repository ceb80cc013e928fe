-- Loaded once at start-up: enables the server and adds the commands and the
-- right-click entries. `vim.g.voiced_enable = false` before this runs keeps
-- the server off (then call `vim.lsp.enable('voiced')` yourself).
if vim.g.loaded_voiced then
  return
end
vim.g.loaded_voiced = true

if vim.fn.has('nvim-0.11') == 0 then
  vim.notify('voiced needs Neovim 0.11 or newer', vim.log.levels.ERROR)
  return
end

require('voiced').setup()

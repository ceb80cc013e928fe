-- voiced's language server for Neovim 0.11+ (`vim.lsp.config` data).
-- Override anything with `vim.lsp.config('voiced', { ... })`, e.g. the path
-- to the executable: `cmd = { '/path/to/voiced', 'lsp' }`.
---@type vim.lsp.Config
return {
  cmd = { 'voiced', 'lsp' },
  filetypes = { 'markdown', 'text', 'tex', 'rst', 'org' },
  root_markers = { '.obsidian', '.git' },
  -- Answered to the server's workspace/configuration request (section `voiced`):
  -- { voice = 'name', temperature = 0.7, languages = { 'asciidoc' } }.
  settings = { voiced = vim.empty_dict() },
}

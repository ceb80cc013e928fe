-- voiced's language server for Neovim 0.11+ (`vim.lsp.config` data).
-- Override anything with `vim.lsp.config('voiced', { ... })`, e.g. the path
-- to the executable: `cmd = { '/path/to/voiced', 'lsp' }`.
---@type vim.lsp.Config
return {
  cmd = { 'voiced', 'lsp' },
  filetypes = { 'markdown', 'text', 'tex', 'rst', 'org' },
  root_markers = { '.obsidian', '.git' },
  -- This plugin shows a rewrite's preview itself: the server asks with `voiced/preview`
  -- instead of applying the edit, and applies it once the writer accepts.
  init_options = { voicedPreview = true },
  handlers = {
    ['voiced/preview'] = function(...)
      return require('voiced.preview').handler(...)
    end,
  },
  -- Answered to the server's workspace/configuration request (section `voiced`):
  -- { voice = 'name', temperature = 0.7, languages = { 'asciidoc' },
  --   preview = { multiParagraph = true, singleParagraph = false },
  --   inline = { autoTrigger = false, debounceMs = 600 } } (setup() fills preview and inline).
  settings = { voiced = vim.empty_dict() },
}

-- `:checkhealth voiced`: Neovim's version, the executable, `voiced doctor`, the attached client.
local M = {}

local function command()
  local config = vim.lsp.config.voiced or {}
  local cmd = config.cmd
  return type(cmd) == 'table' and cmd or { 'voiced', 'lsp' }
end

function M.check()
  local health = vim.health
  health.start('voiced')

  local version = tostring(vim.version())
  if vim.fn.has('nvim-0.12') == 1 and vim.lsp.inline_completion then
    health.ok(('Neovim %s: rewrites, previews and ghost text (vim.lsp.inline_completion)'):format(version))
  elseif vim.fn.has('nvim-0.11') == 1 then
    health.warn(('Neovim %s: rewrites and previews work; ghost text needs Neovim 0.12 or newer'):format(version),
      { 'Upgrade Neovim to 0.12 for ghost-text Continue; :VoicedContinue works meanwhile.' })
  else
    health.error(('Neovim %s is too old: voiced needs 0.11 or newer (0.12 for ghost text)'):format(version))
  end

  local exe = command()[1]
  local path = vim.fn.exepath(exe)
  if path == '' then
    health.error(('`%s` was not found.'):format(exe), {
      'Install voiced (`pipx install voiced`, or `make install` in its repository),',
      "or point the plugin at it: vim.lsp.config('voiced', { cmd = { '/path/to/voiced', 'lsp' } })",
    })
    return
  end
  health.ok('voiced executable: ' .. path)

  local done = vim.system({ path, 'doctor' }, { text = true }):wait(120000)
  local output = vim.trim((done.stdout or '') .. (done.stderr or ''))
  if done.code == 0 then
    health.ok('`voiced doctor` passed')
    health.info(output)
  else
    health.error(('`voiced doctor` failed (exit %s):\n%s'):format(tostring(done.code), output),
      { 'Follow the fixes `voiced doctor` prints.' })
  end

  -- :checkhealth opens its own buffer, so look at every buffer, not the current one.
  local clients = vim.lsp.get_clients({ name = 'voiced' })
  if #clients > 0 then
    for _, client in ipairs(clients) do
      local buffers = vim.tbl_keys(client.attached_buffers)
      table.sort(buffers)
      local names = vim.tbl_map(function(b) return vim.fn.fnamemodify(vim.api.nvim_buf_get_name(b), ':~:.') end, buffers)
      health.ok(('LSP client attached (id %d) to: %s'):format(client.id, table.concat(names, ', ')))
      if client.server_capabilities.inlineCompletionProvider then
        local inline = require('voiced').inline_settings(nil, client)
        health.ok(('the server offers ghost text (autoTrigger %s, debounceMs %d)'):format(
          tostring(inline.autoTrigger), inline.debounceMs))
      else
        health.warn('this voiced server offers no ghost text (textDocument/inlineCompletion)',
          { 'Update voiced (`make install` in its repository).' })
      end
    end
  else
    health.warn('no voiced LSP client is running', {
      'Open a Markdown, text, LaTeX, reStructuredText or Org file.',
      'Check `:lua =vim.lsp.config.voiced` and `:checkhealth vim.lsp`.',
    })
  end
end

return M

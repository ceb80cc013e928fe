-- `:checkhealth voiced`: the executable, `voiced doctor`, the attached client.
local M = {}

local function command()
  local config = vim.lsp.config.voiced or {}
  local cmd = config.cmd
  return type(cmd) == 'table' and cmd or { 'voiced', 'lsp' }
end

function M.check()
  local health = vim.health
  health.start('voiced')

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
    end
  else
    health.warn('no voiced LSP client is running', {
      'Open a Markdown, text, LaTeX, reStructuredText or Org file.',
      'Check `:lua =vim.lsp.config.voiced` and `:checkhealth vim.lsp`.',
    })
  end
end

return M

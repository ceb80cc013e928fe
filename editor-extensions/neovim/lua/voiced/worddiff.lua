-- A word-level diff of two texts, for the preview of a rewrite. The words go
-- one per line through Neovim's own diff (vim.text.diff, xdiff), so nothing
-- here re-implements a diff algorithm.
local M = {}

-- A paragraph break is a token of its own; a single space can never be a word.
local BREAK = ' '

--- The words of `text` (runs of non-space), with BREAK where a blank line separates paragraphs.
---@param text string
---@return string[]
function M.words(text)
  local tokens = {}
  local paragraphs = vim.split(vim.trim(text), '\n%s*\n%s*', { trimempty = true })
  for i, paragraph in ipairs(paragraphs) do
    if i > 1 then
      table.insert(tokens, BREAK)
    end
    for word in paragraph:gmatch('%S+') do
      table.insert(tokens, word)
    end
  end
  return tokens
end

local function lines_of(tokens)
  return #tokens == 0 and '' or table.concat(tokens, '\n') .. '\n'
end

---@alias voiced.DiffPart { kind: 'same'|'del'|'add', text: string, paragraph_break: boolean }

--- The parts of the rewrite `b` of `a` in reading order: words kept, removed and added.
---@param a string the original
---@param b string the rewrite
---@return voiced.DiffPart[]
function M.diff(a, b)
  local wa, wb = M.words(a), M.words(b)
  local diff = vim.text and vim.text.diff or vim.diff
  local hunks = diff(lines_of(wa), lines_of(wb), { result_type = 'indices', algorithm = 'histogram' })
  ---@cast hunks integer[][]
  local parts = {}
  local function push(kind, token)
    table.insert(parts, { kind = kind, text = token == BREAK and '' or token, paragraph_break = token == BREAK })
  end
  local ia, ib = 1, 1
  local function same_until(last_a)
    while ia <= last_a do
      push('same', wb[ib])
      ia, ib = ia + 1, ib + 1
    end
  end
  for _, hunk in ipairs(hunks) do
    local start_a, count_a, start_b, count_b = hunk[1], hunk[2], hunk[3], hunk[4]
    -- With nothing removed, xdiff numbers the hunk by the line it follows.
    same_until(count_a == 0 and start_a or start_a - 1)
    for k = start_a, start_a + count_a - 1 do
      push('del', wa[k])
    end
    for k = start_b, start_b + count_b - 1 do
      push('add', wb[k])
    end
    ia = count_a == 0 and start_a + 1 or start_a + count_a
    ib = count_b == 0 and start_b + 1 or start_b + count_b
  end
  same_until(#wa)
  return parts
end

--- Lay the parts out as lines (one per paragraph) with the highlight of each changed word.
---@param parts voiced.DiffPart[]
---@return string[] lines
---@return { row: integer, col: integer, end_col: integer, kind: 'del'|'add' }[] marks (0-based, bytes)
function M.layout(parts)
  local lines, marks = { '' }, {}
  for _, part in ipairs(parts) do
    if part.paragraph_break then
      if part.kind == 'del' then
        -- A paragraph break that the rewrite removes shows as a struck pilcrow.
        part = { kind = 'del', text = '¶', paragraph_break = false }
      else
        table.insert(lines, '')
        table.insert(lines, '')
        goto continue
      end
    end
    do
      local row = #lines
      local line = lines[row]
      local col = line == '' and 0 or #line + 1
      lines[row] = (line == '' and '' or line .. ' ') .. part.text
      if part.kind ~= 'same' then
        table.insert(marks, { row = row - 1, col = col, end_col = col + #part.text, kind = part.kind })
      end
    end
    ::continue::
  end
  return lines, marks
end

return M

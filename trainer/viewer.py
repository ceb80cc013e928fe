"""A single static HTML page to read a dataset: no network, inline CSS and JS.

Every piece of the writer's text is escaped on the server side and the
script only shows, hides and moves between the rendered examples, so nothing
in the prose can run as markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

from voiced.private_files import write_private
from voiced.trainer.dataset import Example
from voiced.trainer.draft_report import word_similarity

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f6f5f2;color:#222}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ccc;padding:8px 16px;\
display:flex;gap:12px;align-items:center}
#q{flex:1;font-size:15px;padding:4px 8px}
article{background:#fff;margin:12px 16px;padding:10px 14px;border:1px solid #ddd;border-radius:6px}
article.current{border-color:#2a6ad8;box-shadow:0 0 0 2px #2a6ad855}
.meta span{display:inline-block;margin-right:8px;padding:0 6px;border-radius:4px;background:#eee;font-size:12px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.pair h3{font-size:12px;text-transform:uppercase;color:#666;margin:6px 0}
.text{white-space:pre-wrap}
.hidden{display:none}
.drafts{margin:12px 16px;padding:8px 14px;background:#fff;border:1px solid #ddd;border-radius:6px}
.drafts table{border-collapse:collapse}.drafts td,.drafts th{padding:2px 10px;text-align:right}
.outside{color:#b00020;font-weight:bold}
"""

_JS = """
(function(){
  var all=Array.prototype.slice.call(document.querySelectorAll('article'));
  var q=document.getElementById('q'), count=document.getElementById('count'), cur=-1;
  function visible(){return all.filter(function(a){return !a.classList.contains('hidden');});}
  function show(i){var v=visible(); if(!v.length)return; cur=Math.max(0,Math.min(i,v.length-1));
    all.forEach(function(a){a.classList.remove('current');}); v[cur].classList.add('current');
    v[cur].scrollIntoView({block:'center'});}
  function filter(){var s=q.value.toLowerCase();
    all.forEach(function(a){a.classList.toggle('hidden', s!=='' && a.textContent.toLowerCase().indexOf(s)<0);});
    count.textContent=visible().length+' / '+all.length; cur=-1;}
  q.addEventListener('input',filter);
  document.addEventListener('keydown',function(e){
    if(e.target===q){ if(e.key==='Escape'){q.blur();} return; }
    if(e.key==='j'||e.key==='ArrowDown'){e.preventDefault();show(cur+1);}
    else if(e.key==='k'||e.key==='ArrowUp'){e.preventDefault();show(cur-1);}
    else if(e.key==='/'){e.preventDefault();q.focus();}
  });
  filter();
})();
"""


def _article(example: Example) -> str:
    esc = html.escape
    left = "Rough draft" if example.task == "rewrite" else "Opening"
    right = "Original (trained response)" if example.task == "rewrite" else "Continuation (trained response)"
    similarity = (
        f"similarity {word_similarity(example.prompt_text, example.response_text):.2f}"
        if example.task == "rewrite"
        else ""
    )
    meta = "".join(
        f"<span>{esc(label)}</span>"
        for label in (
            example.split,
            example.task,
            example.shape,
            example.document,
            " / ".join(example.section),
            example.rough_style,
            similarity,
        )
        if label
    )
    return (
        f'<article data-split="{esc(example.split)}" data-task="{esc(example.task)}" data-shape="{esc(example.shape)}">'
        f'<div class="meta">{meta}</div>'
        f'<div class="pair"><div><h3>{left}</h3><div class="text">{esc(example.prompt_text)}</div></div>'
        f'<div><h3>{right}</h3><div class="text">{esc(example.response_text)}</div></div></div></article>'
    )


def _drafts_block(drafts: dict | None) -> str:
    """The drafts' similarity to the originals: overall against the target, then per family."""
    if not drafts or not drafts.get("drafts"):
        return ""
    low, high = drafts["target_median"]
    verdict = "within the target" if drafts["within_target"] else '<span class="outside">outside the target</span>'
    rows = "".join(
        f'<tr><td style="text-align:left">{html.escape(name)}</td><td>{fam["drafts"]}</td><td>{fam["median"]:.2f}</td>'
        f"<td>{fam['q1']:.2f}-{fam['q3']:.2f}</td><td>{fam['share_at_least_0.9']:.0%}</td></tr>"
        for name, fam in drafts["families"].items()
    )
    return (
        '<section class="drafts"><strong>Rough drafts against the originals</strong> '
        "(word-level similarity, 1 = a copy): "
        f"median {drafts['median']:.2f}, quartiles {drafts['q1']:.2f}-{drafts['q3']:.2f}, "
        f"{drafts['share_at_least_0.9']:.0%} at 0.9 or more; {verdict} (median {low:.2f}-{high:.2f}, at most "
        f"{drafts['max_near_copies']:.0%} at 0.9 or more); "
        f"names and numbers kept {drafts['names_and_numbers_kept']:.1%}."
        '<table><tr><th style="text-align:left">family</th><th>drafts</th><th>median</th><th>quartiles</th>'
        f"<th>at 0.9 or more</th></tr>{rows}</table></section>"
    )


def render_html(examples: Iterable[Example], title: str, drafts: dict | None = None) -> str:
    """The whole page as a string; ``drafts`` (``draft_statistics``) adds the drafts' similarity block."""
    body = _drafts_block(drafts) + "\n".join(_article(ex) for ex in examples)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><strong>{html.escape(title)}</strong>"
        '<input id="q" type="search" placeholder="Search (/); j/k or arrows to move">'
        f'<span id="count"></span></header><main>{body}</main><script>{_JS}</script></body></html>\n'
    )


def write_html(path: Path, examples: Iterable[Example], title: str, drafts: dict | None = None) -> Path:
    """Write the viewer, readable by the user alone (it holds their prose)."""
    write_private(Path(path), render_html(examples, title, drafts))
    return Path(path)

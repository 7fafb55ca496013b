// What a newcomer sees before the first beacon: how to send one. The view runs on the admin origin
// and cannot know the collector's public address, so the tag carries a placeholder unless the page
// was opened with `?public=https://rum.example.com`.

import { h } from '../dom';

/** The stand-in for the collector's public origin in the tag. */
export const PUBLIC_PLACEHOLDER = 'https://YOUR-COLLECTOR';

/** The one-tag install of docs/sdk.md for `origin`. */
export const scriptTag = (origin: string) => `<script async src="${origin}/rum.js" data-key="YOUR_SITE_KEY"></script>`;

/** `?public=` if it is an http(s) origin, else the placeholder. */
function publicOrigin(): { origin: string; known: boolean } {
  const given = new URLSearchParams(location.search).get('public');
  if (given) {
    try {
      const url = new URL(given);
      if (url.protocol == 'https:' || url.protocol == 'http:') return { origin: url.origin, known: true };
    } catch {
      // not a URL: fall back to the placeholder
    }
  }
  return { origin: PUBLIC_PLACEHOLDER, known: false };
}

export function emptyState(): HTMLElement {
  const { origin, known } = publicOrigin();
  const tag = scriptTag(origin);
  const code = h('code', { id: 'snippet' }, tag);
  const copied = h('span', { class: 'card-note', role: 'status' });
  const copy = h('button', { type: 'button', class: 'button' }, 'Copy');
  copy.addEventListener('click', () => {
    navigator.clipboard?.writeText(tag).then(
      () => (copied.textContent = 'Copied.'),
      () => {
        // No clipboard (an insecure origin): select the text for a manual copy.
        getSelection()?.selectAllChildren(code);
        copied.textContent = 'Press Ctrl+C (⌘C) to copy.';
      },
    );
  });
  return h(
    'section',
    { id: 'empty', class: 'card empty-state', 'aria-labelledby': 'empty-title' },
    h('h2', { id: 'empty-title' }, 'No data yet: send the first beacon'),
    h('p', null, 'This collector has not received a page view yet. Add one tag to the pages you want to measure:'),
    h('div', { class: 'snippet' }, h('pre', null, code), copy),
    copied,
    h(
      'ol',
      null,
      h(
        'li',
        null,
        known ? `${origin} is your collector's public address (its listen port, not this admin page).` : null,
        known ? null : h('span', null, 'Replace ', h('code', null, PUBLIC_PLACEHOLDER), " with your collector's public address: the ", h('code', null, 'collector.listen'), ' port, not this admin page (open this page with ', h('code', null, '?public=https://…'), ' to fill it in).'),
      ),
      h('li', null, 'Replace ', h('code', null, 'YOUR_SITE_KEY'), ' with one of the ', h('code', null, 'keys'), ' of the site’s ', h('code', null, '[[sites]]'), ' entry in the config, and list the page’s origin in its ', h('code', null, 'allowed_origins'), '.'),
      h('li', null, 'Put the tag in the page’s ', h('code', null, '<head>'), '. Load a page: its vitals appear here within seconds (this page refreshes by itself).'),
    ),
    h('p', { class: 'card-note' }, 'Headless browsers and crawlers are dropped as bots unless the site sets keep_bots = true. The script, its options and the async loader are described in docs/sdk.md.'),
  );
}

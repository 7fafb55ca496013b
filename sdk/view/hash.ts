// What the viewer picked, kept in the URL's hash (`#site=shop&window=15m&metric=inp`), so a link or
// a reload shows the same thing.

export interface Choice {
  site?: string;
  window?: string;
  metric?: string;
}

export function readChoice(hash: string = location.hash): Choice {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const read = (name: string) => params.get(name) || undefined;
  return { site: read('site'), window: read('window'), metric: read('metric') };
}

/** Writes the choice into the hash without adding a history entry per click. */
export function writeChoice(choice: Choice): void {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(choice)) if (value) params.set(name, value);
  const hash = `#${params}`;
  if (hash != location.hash) history.replaceState(null, '', hash);
}

// Entry of dist/rum.js, the script-tag build. Options come from the tag's data-* attributes
// (data-sample-rate="0.5" -> sampleRate "0.5", which the arithmetic converts; an empty value is
// true, "false" is false) and from init() calls queued by the async loader snippet;
// the beacon endpoint defaults to the script's own origin.

import { consent, event, flush, init, mark } from './index.js';

const api = { init, mark, event, consent, flush };

try {
  const queued = self.rum?.q || [];
  self.rum = api;
  const script = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  /** @type {any} */
  const options = {};
  if (script?.src) {
    options.endpoint = new URL('/rum/v1/beacon', script.src).href;
    for (const [name, value] of Object.entries(script.dataset)) options[name] = value == 'false' ? false : value == '' || value;
  }
  for (const [method, args] of queued) if (method == 'init') Object.assign(options, args[0]);
  init(options);
  for (const [method, args] of queued) if (method != 'init') api[method]?.(...args);
} catch {}

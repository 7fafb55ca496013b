// Ids, per-session sampling and the sessionStorage session (src/session.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SESSION_KEY, inSample, newId, resolveSession } from '../../src/session.js';

/** A sessionStorage stand-in; `broken` makes every call throw like disabled storage does. */
const memoryStorage = (broken = false) => {
  const items = new Map();
  return {
    items,
    getItem: (key) => {
      if (broken) throw new Error('SecurityError');
      return items.has(key) ? items.get(key) : null;
    },
    setItem: (key, value) => {
      if (broken) throw new Error('SecurityError');
      items.set(key, String(value));
    },
  };
};

test('ids are 16 characters of the alphabet BEACON.md allows, and do not repeat', () => {
  const ids = new Set();
  for (let i = 0; i < 20000; i++) {
    const id = newId();
    assert.match(id, /^[A-Za-z0-9_-]{1,64}$/);
    assert.match(id, /^[0-9a-v]{16}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 20000);
});

test('every digit of an id is uniform, so the sampling key is unbiased', () => {
  const counts = new Map();
  const draws = 32000;
  for (let i = 0; i < draws; i++) {
    const digit = newId()[0];
    counts.set(digit, (counts.get(digit) || 0) + 1);
  }
  assert.equal(counts.size, 32);
  for (const count of counts.values()) assert.ok(Math.abs(count - draws / 32) < 200, `digit count ${count}`);
});

test('sampling is a function of the session id: the same id always decides the same way', () => {
  for (let i = 0; i < 1000; i++) {
    const id = newId();
    for (const rate of [0.01, 0.1, 0.5, 0.9]) assert.equal(inSample(id, rate), inSample(id, rate));
    // Nested: a session kept at a rate stays kept at any higher rate.
    if (inSample(id, 0.1)) assert.ok(inSample(id, 0.5));
  }
});

test('sampling keeps the configured fraction of sessions; 0 keeps none, 1 keeps all', () => {
  const ids = Array.from({ length: 20000 }, newId);
  const kept = (rate) => ids.filter((id) => inSample(id, rate)).length / ids.length;
  assert.equal(kept(0), 0);
  assert.equal(kept(1), 1);
  for (const rate of [0.05, 0.25, 0.5]) assert.ok(Math.abs(kept(rate) - rate) < 0.015, `rate ${rate}: kept ${kept(rate)}`);
});

test('a session id is reused while active and replaced after the idle timeout', () => {
  const storage = memoryStorage();
  const timeout = 30 * 60000;
  const first = resolveSession(storage, 1_000_000, timeout);
  assert.equal(storage.items.get(SESSION_KEY), `${first}.1000000`);
  // 29 minutes later: same session, activity moved forward.
  assert.equal(resolveSession(storage, 1_000_000 + 29 * 60000, timeout), first);
  // Another 29 minutes (58 after the start, 29 after the last activity): still the same.
  assert.equal(resolveSession(storage, 1_000_000 + 58 * 60000, timeout), first);
  // 31 idle minutes: a new session.
  const second = resolveSession(storage, 1_000_000 + 89 * 60000, timeout);
  assert.notEqual(second, first);
  assert.equal(storage.items.get(SESSION_KEY), `${second}.${1_000_000 + 89 * 60000}`);
});

test('a malformed stored session is replaced, and broken storage still yields an id', () => {
  const storage = memoryStorage();
  storage.items.set(SESSION_KEY, 'not a session');
  assert.match(resolveSession(storage, 5, 1000), /^[0-9a-v]{16}$/);
  storage.items.set(SESSION_KEY, '"><script>.1');
  assert.match(resolveSession(storage, 5, 1000), /^[0-9a-v]{16}$/);
  assert.match(resolveSession(memoryStorage(true), 5, 1000), /^[0-9a-v]{16}$/);
  assert.match(resolveSession(undefined, 5, 1000), /^[0-9a-v]{16}$/);
});

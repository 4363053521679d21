/**
 * A fake clock with timers: advance() fires due timers in deadline order, each at its own
 * time, letting promises settle in between (command results resolve as microtasks).
 */
export const settle = async (n = 5): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };

export class FakeTime {
  now: number;
  timers: Array<{ at: number; fn: () => void; dead: boolean }> = [];

  constructor(start = 1_700_000_000_000) { this.now = start; }

  setTimer = (fn: () => void, ms: number): { cancel(): void } => {
    const t = { at: this.now + Math.max(0, ms), fn, dead: false };
    this.timers.push(t);
    return { cancel: () => { t.dead = true; } };
  };

  pending(): number[] { return this.timers.filter((t) => !t.dead).map((t) => t.at).sort((a, b) => a - b); }

  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    await settle();
    for (;;) {
      const t = this.timers.filter((x) => !x.dead && x.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!t) break;
      t.dead = true;
      this.now = Math.max(this.now, t.at);
      t.fn();
      await settle();
    }
    this.now = target;
    this.timers = this.timers.filter((t) => !t.dead);
    await settle();
  }
}

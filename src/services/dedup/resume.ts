/**
 * Joins the streams of successive leaders into one answer for the clients that already got
 * part of it: a new leader's stream starts again from its first word, so each choice's text
 * is skipped up to what was delivered before. Valid because only requests whose answer does
 * not vary are shared: the new leader's text is the old one's, from the start. Only text
 * (`delta.content` of chat, `text` of completions) is positioned; a chunk the new stream
 * repeats that carries nothing new (the role, an empty piece) is left out.
 */
export class StreamCursor {
  /** Characters of each choice's text delivered, over every leader. */
  private readonly delivered = new Map<number, number>();
  /** Characters of each choice's text seen in the current leader's stream. */
  private seen = new Map<number, number>();
  /** Something other than text was delivered (tool calls), which has no position to resume at. */
  private opaque = false;

  /** Whether another leader's stream can continue what was delivered. */
  get resumable(): boolean {
    return !this.opaque;
  }

  /** A new leader's stream begins: its text starts from the beginning again. */
  restart(): void {
    this.seen = new Map();
  }

  /** The chunk's data as the clients should get it; null when it holds nothing new. */
  next(data: string): string | null {
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      return data;
    }
    const choices = (chunk as { choices?: unknown }).choices;
    if (!Array.isArray(choices) || choices.length === 0) return data;
    let changed = false;
    const kept: unknown[] = [];
    for (const choice of choices as Record<string, unknown>[]) {
      const trimmed = this.trim(choice);
      if (trimmed !== choice) changed = true;
      if (trimmed !== null) kept.push(trimmed);
    }
    if (!changed) return data;
    if (kept.length === 0) return null;
    return JSON.stringify({ ...(chunk as object), choices: kept });
  }

  /** The choice with its already delivered text cut off; null when nothing new is left. */
  private trim(choice: Record<string, unknown>): Record<string, unknown> | null {
    const index = typeof choice.index === 'number' ? choice.index : 0;
    const delta = choice.delta as Record<string, unknown> | undefined;
    const text = typeof delta?.content === 'string' ? delta.content : choice.text;
    const start = this.seen.get(index) ?? 0;
    const length = typeof text === 'string' ? text.length : 0;
    const delivered = this.delivered.get(index) ?? 0;
    this.seen.set(index, start + length);
    this.delivered.set(index, Math.max(delivered, start + length));
    if (!isTextOnly(delta)) this.opaque = true;
    // At or past the delivered frontier: everything in this choice is new.
    if (start >= delivered) return choice;
    const fresh = typeof text === 'string' ? text.slice(Math.max(0, delivered - start)) : '';
    if (fresh === '' && (choice.finish_reason ?? null) === null) return null;
    if (delta !== undefined && typeof delta.content === 'string') {
      const { role: _role, ...rest } = delta;
      return { ...choice, delta: { ...rest, content: fresh } };
    }
    if (typeof choice.text === 'string') return { ...choice, text: fresh };
    return choice;
  }
}

const TEXT_FIELDS = new Set(['role', 'content', 'refusal']);

function isTextOnly(delta: Record<string, unknown> | undefined): boolean {
  if (delta === undefined) return true;
  return Object.entries(delta).every(([field, value]) => TEXT_FIELDS.has(field) || value == null);
}

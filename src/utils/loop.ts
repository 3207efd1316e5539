const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `step` again and again until stopped, for the background readers of a stream. A
 * step that throws is told and tried again after a pause; stopping waits for the step in
 * hand.
 */
export class Loop {
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(
    private readonly step: () => Promise<void>,
    private readonly onError: (error: unknown) => void,
    private readonly pauseMs = 1000,
  ) {}

  start(): void {
    this.stopping = false;
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.running = null;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.step();
      } catch (error) {
        if (this.stopping) break;
        this.onError(error);
        await pause(this.pauseMs);
      }
    }
  }
}

// A TCP link between a device and its broker that a test can cut, hold down and make lossy, as a flaky
// radio would: the device's socket really closes, and bytes the device sent really never arrive.
import { connect, createServer, type Server, type Socket } from "node:net";

export class Link {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private down = false;
  /** While true, bytes from the device are swallowed (counted in `dropped`), never forwarded. */
  dropFromDevice = false;
  /** While true, bytes to the device are swallowed: with both, the broker writes into a dead link it cannot see. */
  dropToDevice = false;
  dropped = 0;
  port = 0;

  constructor(
    private readonly brokerPort: number,
    private readonly brokerHost = "127.0.0.1",
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<this> {
    const server = createServer((device) => this.accept(device));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    return this;
  }

  private accept(device: Socket): void {
    if (this.down) return void device.destroy();
    const broker = connect(this.brokerPort, this.brokerHost);
    const pair: [Socket, Socket] = [device, broker];
    this.pairs.add(pair);
    device.setNoDelay(true);
    broker.setNoDelay(true);
    device.on("data", (chunk) => {
      if (this.dropFromDevice) this.dropped += chunk.length;
      else broker.write(chunk);
    });
    broker.on("data", (chunk) => {
      if (this.dropToDevice) this.dropped += chunk.length;
      else device.write(chunk);
    });
    const close = () => {
      this.pairs.delete(pair);
      device.destroy();
      broker.destroy();
    };
    for (const s of pair) {
      s.on("error", close);
      s.on("close", close);
    }
  }

  /** Destroys every connection on both sides and refuses new ones until restore(). */
  cut(): void {
    this.down = true;
    for (const [device, broker] of this.pairs) {
      device.destroy();
      broker.destroy();
    }
    this.pairs.clear();
  }

  restore(): void {
    this.down = false;
    this.dropFromDevice = this.dropToDevice = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

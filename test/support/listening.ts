// Which local addresses listen on a TCP port, as the kernel reports them (/proc/net/tcp and tcp6, Linux).
import { readFileSync } from "node:fs";

const LISTEN = "0A";

/** "0100007F" (a little-endian 32-bit word) -> "127.0.0.1". */
function ipv4(hex: string): string {
  return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join(".");
}

/** Four little-endian words -> eight groups; all zeros -> "::", loopback -> "::1". */
function ipv6(hex: string): string {
  const bytes = [0, 8, 16, 24].flatMap((w) => [6, 4, 2, 0].map((i) => hex.slice(w + i, w + i + 2)));
  const groups = Array.from({ length: 8 }, (_, g) => Number.parseInt(bytes[2 * g] + bytes[2 * g + 1], 16).toString(16));
  const text = groups.join(":");
  return text === "0:0:0:0:0:0:0:0" ? "::" : text === "0:0:0:0:0:0:0:1" ? "::1" : text;
}

/** Every address with a socket listening on `port`, sorted ("127.0.0.1", "0.0.0.0", "::", ...). */
export function listeningAddresses(port: number): string[] {
  const found = new Set<string>();
  for (const [file, format] of [
    ["/proc/net/tcp", ipv4],
    ["/proc/net/tcp6", ipv6],
  ] as const) {
    let table: string;
    try {
      table = readFileSync(file, "utf8");
    } catch {
      continue; // no IPv6 in this kernel
    }
    for (const line of table.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== LISTEN) continue;
      const [addr, portHex] = cols[1].split(":");
      if (Number.parseInt(portHex, 16) === port) found.add(format(addr));
    }
  }
  return [...found].sort();
}

// Bring-up firmware: echoes every byte from the broker pipe (USART1) back,
// so a test can check boot, interrupts, the ring buffers and the TCP serial.
#include <stdio.h>

#include "../board.h"
#include "../link.h"

int main(void) {
  board_init();
  printf("echo ready on %s, %lu Hz\n", board_name(), (unsigned long)board_cpu_hz());
  // Hold off reading for a moment so a fast sender fills the receive ring and
  // the ring-full path (pause, then resume without loss) runs every time.
  for (uint32_t start = board_millis(); board_millis() - start < 200;) board_idle();
  uint8_t chunk[64];
  size_t pending = 0, sent = 0;
  uint32_t pauses_reported = 0;
  for (;;) {
    link_counters c = link_counters_read();
    if (c.rx_pauses != pauses_reported) printf("rx pauses %lu\n", (unsigned long)(pauses_reported = c.rx_pauses));
    if (sent == pending) {
      pending = link_read(chunk, sizeof chunk);
      sent = 0;
    }
    sent += link_write(chunk + sent, pending - sent);
    if (sent == pending) board_idle();
  }
}

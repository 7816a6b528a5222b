// Bring-up firmware that faults on purpose (a read from unmapped memory), so a
// test can check that a fault is named on the debug channel and ends the run.
#include <stdio.h>

#include "../board.h"

int main(void) {
  board_init();
  printf("fault firmware reading 0x3ffffff0\n");
  return (int)*(volatile unsigned *)0x3FFFFFF0u;
}

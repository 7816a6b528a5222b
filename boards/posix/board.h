// boards/posix: the shell around boards/common for Linux and macOS.
#ifndef OUTPOST_POSIX_BOARD_H
#define OUTPOST_POSIX_BOARD_H

// Registers this board's RPC methods (gpio.write, gpio.read on simulated pins).
void posix_methods(void);

#endif

// The broker pipe (USART1) as the runtime's transport.
#ifndef OUTPOST_STM32_TRANSPORT_H
#define OUTPOST_STM32_TRANSPORT_H

#include "outpost_transport.h"

outpost_transport stm32_link_transport(void);

// A far end that dials (a modem or network co-processor): each open() sends "ATD<host>:<port>\r" and waits for
// its "CONNECT" (opened) or "NO CARRIER" / "BUSY" / "ERROR" (closed), at most STM32_DIAL_TIMEOUT_MS. Off by
// default: the pipe's far end is then fixed (QEMU's chardev dials one port).
#define STM32_DIAL_TIMEOUT_MS 5000u
void stm32_link_dial(int on);

#endif

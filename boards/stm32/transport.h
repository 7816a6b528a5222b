// The broker pipe (USART1) as the runtime's transport.
#ifndef OUTPOST_STM32_TRANSPORT_H
#define OUTPOST_STM32_TRANSPORT_H

#include "outpost_transport.h"

outpost_transport stm32_link_transport(void);

#endif

// Vector table and reset: the first code the STM32F405 runs.
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "stm32f405.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
extern void (*__init_array_start[])(void), (*__init_array_end[])(void);
int main(void);

void Reset_Handler(void) {
  // The FPU must be on before any compiler-generated float instruction.
  SCB_CPACR |= 0xFu << 20;
  __asm volatile("dsb\n isb");
  memcpy(_sdata, _sidata, (uintptr_t)_edata - (uintptr_t)_sdata);
  memset(_sbss, 0, (uintptr_t)_ebss - (uintptr_t)_sbss);
  board_paint_stack();
  for (void (**f)(void) = __init_array_start; f < __init_array_end; f++) (*f)();
  board_exit(main());
}

// A fault names itself on the debug channel and ends the run: never a silent hang.
void Default_Handler(void) {
  uint32_t ipsr;
  __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  board_fatal("unhandled exception", ipsr & 0x1FFu);
}

void HardFault_Handler(void) { board_fatal("hard fault, CFSR", SCB_CFSR); }

#define WEAK_DEFAULT __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK_DEFAULT;
void MemManage_Handler(void) WEAK_DEFAULT;
void BusFault_Handler(void) WEAK_DEFAULT;
void UsageFault_Handler(void) WEAK_DEFAULT;
void SVC_Handler(void) WEAK_DEFAULT;
void DebugMon_Handler(void) WEAK_DEFAULT;
void PendSV_Handler(void) WEAK_DEFAULT;
void SysTick_Handler(void) WEAK_DEFAULT;
void USART1_IRQHandler(void) WEAK_DEFAULT;
void USART2_IRQHandler(void) WEAK_DEFAULT;

// 16 system exceptions + 82 STM32F405 interrupts; unused ones go to Default_Handler.
#define IRQ_COUNT 82
typedef void (*vector)(void);
#pragma GCC diagnostic ignored "-Woverride-init" // named IRQs override the default range
__attribute__((section(".isr_vector"), used)) static const vector vectors[16 + IRQ_COUNT] = {
    [0] = (vector)_estack,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [11] = SVC_Handler,
    [12] = DebugMon_Handler,
    [14] = PendSV_Handler,
    [15] = SysTick_Handler,
    [16 ... 16 + IRQ_COUNT - 1] = Default_Handler,
    [16 + USART1_IRQn] = USART1_IRQHandler,
    [16 + USART2_IRQn] = USART2_IRQHandler,
};

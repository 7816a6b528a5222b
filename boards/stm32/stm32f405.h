// STM32F405 registers this board uses, from the reference manual (RM0090)
// and the Cortex-M4 generic user guide. Only what the firmware touches.
#ifndef OUTPOST_STM32F405_H
#define OUTPOST_STM32F405_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))

// Reset and clock control.
#define RCC_BASE 0x40023800u
#define RCC_CR REG32(RCC_BASE + 0x00)
#define RCC_PLLCFGR REG32(RCC_BASE + 0x04)
#define RCC_CFGR REG32(RCC_BASE + 0x08)
#define RCC_AHB1ENR REG32(RCC_BASE + 0x30)
#define RCC_APB1ENR REG32(RCC_BASE + 0x40)
#define RCC_APB2ENR REG32(RCC_BASE + 0x44)
#define RCC_CR_HSION (1u << 0)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_APB1ENR_USART2EN (1u << 17)
#define RCC_APB2ENR_USART1EN (1u << 4)

// Flash interface (wait states must rise before the clock does).
#define FLASH_ACR REG32(0x40023C00u)

// GPIO ports A..I, 0x400 apart.
#define GPIO_BASE 0x40020000u
typedef struct {
  volatile uint32_t MODER, OTYPER, OSPEEDR, PUPDR, IDR, ODR, BSRR, LCKR, AFR[2];
} gpio_regs;
#define GPIO_PORT(n) ((gpio_regs *)(GPIO_BASE + 0x400u * (n)))

// USART1 (APB2) and USART2 (APB1).
typedef struct {
  volatile uint32_t SR, DR, BRR, CR1, CR2, CR3, GTPR;
} usart_regs;
#define USART1 ((usart_regs *)0x40011000u)
#define USART2 ((usart_regs *)0x40004400u)
#define USART_SR_ORE (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_TXEIE (1u << 7)
#define USART_CR1_UE (1u << 13)
#define USART1_IRQn 37u
#define USART2_IRQn 38u

// Cortex-M4 system control.
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE_CPU (1u << 2)
#define NVIC_ISER(n) REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) REG32(0xE000E180u + 4u * (n))
#define NVIC_IPR8(n) (*(volatile uint8_t *)(0xE000E400u + (n)))
#define SCB_VTOR REG32(0xE000ED08u)
#define SCB_AIRCR REG32(0xE000ED0Cu)
#define SCB_SHPR3 REG32(0xE000ED20u)
#define SCB_CPACR REG32(0xE000ED88u)
#define SCB_CFSR REG32(0xE000ED28u)
#define SCB_HFSR REG32(0xE000ED2Cu)
#define SCB_AIRCR_RESET (0x05FAu << 16 | 1u << 2)

static inline void irq_disable(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_enable(void) { __asm volatile("cpsie i" ::: "memory"); }
static inline void wait_for_interrupt(void) { __asm volatile("dsb\n wfi" ::: "memory"); }

static inline void nvic_enable(uint32_t irq, uint8_t priority) {
  NVIC_IPR8(irq) = priority;
  NVIC_ISER(irq >> 5) = 1u << (irq & 31u);
}

static inline void nvic_disable(uint32_t irq) {
  NVIC_ICER(irq >> 5) = 1u << (irq & 31u);
  __asm volatile("dsb\n isb" ::: "memory");
}

#endif

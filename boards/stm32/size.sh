#!/bin/sh
# Prints an ELF's flash and static RAM use against the board budget
# (flash <= 128 KiB; RAM <= 48 KiB including heap and stack, measured at run time).
set -eu
arm-none-eabi-size -A "$1" | awk -v elf="$1" '
  $1 == ".isr_vector" || $1 == ".text" || $1 == ".ARM.exidx" || $1 == ".init_array" { flash += $2 }
  $1 == ".data" { flash += $2; ram += $2 }
  $1 == ".bss" { ram += $2 }
  $1 == ".stack" { stack = $2 }
  END {
    printf "%s: flash %d bytes (%.1f%% of the 128 KiB budget), static RAM %d bytes, stack reserved %d bytes\n",
      elf, flash, flash * 100 / 131072, ram, stack
  }'

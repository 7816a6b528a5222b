/* The device module, placed in flash as read-only data (never copied to RAM). */
  .section .rodata.device_wasm, "a"
  .balign 4
  .global device_wasm
device_wasm:
  .incbin DEVICE_WASM
  .global device_wasm_end
device_wasm_end:

/* The device module, placed in flash as read-only data (never copied to RAM).
   Without DEVICE_WASM (ENGINE=aot) it is empty: the module is compiled into the firmware. */
  .section .rodata.device_wasm, "a"
  .balign 4
  .global device_wasm
device_wasm:
#ifdef DEVICE_WASM
  .incbin DEVICE_WASM
#endif
  .global device_wasm_end
device_wasm_end:

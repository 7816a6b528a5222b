#!/usr/bin/env bash
# What mbedTLS 2.28 would add to the STM32 board (flash, static RAM, the record buffers), from a cross build of
# the sources fetch-mbedtls.sh brings in (pinned, hashed) with tls/mbedtls_config.h, through the same shim as the
# POSIX board (boards/common/net_mbedtls.c). Prints one line per build and the difference; last line JSON.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
src="$("$root/boards/common/fetch-mbedtls.sh")"
out="$root/boards/stm32/build/tls"
mkdir -p "$out/lib"
arch=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
cflags=("${arch[@]}" -Os -ffunction-sections -fdata-sections -I"$here" -I"$src/include" -I"$root/boards/common"
  '-DMBEDTLS_CONFIG_FILE="mbedtls_config.h"')
objs=()
for c in "$src"/library/*.c; do
  o="$out/lib/$(basename "$c" .c).o"
  [ "$o" -nt "$c" ] && [ "$o" -nt "$here/mbedtls_config.h" ] || arm-none-eabi-gcc "${cflags[@]}" -w -c "$c" -o "$o"
  objs+=("$o")
done
rm -f "$out/libmbedtls.a"
arm-none-eabi-ar rcs "$out/libmbedtls.a" "${objs[@]}"
link=("${arch[@]}" -Os -Wl,--gc-sections -specs=nano.specs -specs=nosys.specs)
arm-none-eabi-gcc "${cflags[@]}" -Wall -c "$here/probe.c" -o "$out/base.o"
arm-none-eabi-gcc "${link[@]}" "$out/base.o" -o "$out/base.elf"
arm-none-eabi-gcc "${cflags[@]}" -Wall -DOUTPOST_PROBE_TLS -c "$here/probe.c" -o "$out/probe.o"
arm-none-eabi-gcc "${cflags[@]}" -Wall -c "$root/boards/common/net_mbedtls.c" -o "$out/net_mbedtls.o"
arm-none-eabi-gcc "${link[@]}" "$out/probe.o" "$out/net_mbedtls.o" "$out/libmbedtls.a" -o "$out/tls.elf"
sizes() { arm-none-eabi-size -A "$1" | awk '$1 == ".text" || $1 == ".rodata" || $1 == ".ARM.exidx" || $1 == ".init_array" { f += $2 } $1 == ".data" { f += $2; r += $2 } $1 == ".bss" { r += $2 } END { print f, r }'; }
read -r bf br < <(sizes "$out/base.elf")
read -r tf tr < <(sizes "$out/tls.elf")
inlen=$(awk '/define MBEDTLS_SSL_IN_CONTENT_LEN/ { print $3 }' "$here/mbedtls_config.h")
outlen=$(awk '/define MBEDTLS_SSL_OUT_CONTENT_LEN/ { print $3 }' "$here/mbedtls_config.h")
echo "without TLS: flash $bf B, static RAM $br B"
echo "with mbedTLS: flash $tf B, static RAM $tr B"
echo "mbedTLS adds: flash $((tf - bf)) B, static RAM $((tr - br)) B, and on the heap record buffers of $inlen + $outlen B plus the handshake's"
printf '{"flash_added":%d,"static_ram_added":%d,"in_content_len":%d,"out_content_len":%d}\n' $((tf - bf)) $((tr - br)) "$inlen" "$outlen"

#ifndef TESSERA_CRC32C_H
#define TESSERA_CRC32C_H
/* CRC-32C (Castagnoli) on the SSE4.2 crc32 instruction, for checkpoint checksums at memory speed.

   Registers are raw: no initial or final inversion here (the Swift caller, TesseraFiles' CRC32C, adds both) and
   bit-reflected, bit 31 holding the coefficient of x^0, as the instruction keeps them. The instruction has a latency
   of three cycles and a throughput of one a cycle, so one stream of it runs at 8 bytes per 3 cycles; long inputs are
   cut into blocks of three lanes that run as three independent streams, and the lanes' registers are joined with
   the identity crc(A || B) = crc(A) * x^(8 |B|) + crc(B) (mod the polynomial, B's register started at zero). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* The reflected polynomial x^32 + x^28 + x^27 + ... + 1 (0x1EDC6F41 unreflected). */
#define TESSERA_CRC32C_POLYNOMIAL 0x82F63B78u
/* Bytes in each of the three lanes of a block: the join costs two 32-step products per block, 1-2 % of its time. */
#define TESSERA_CRC32C_LANE 16384

/* a(x) * b(x) mod P for reflected 32-bit registers: b is multiplied by x once per coefficient of a. */
static inline uint32_t tessera_crc32c_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (int power = 0; power < 32; power++) {
        if (a & (0x80000000u >> power)) product ^= b;
        b = (b >> 1) ^ ((b & 1u) ? TESSERA_CRC32C_POLYNOMIAL : 0u);
    }
    return product;
}

/* x^(8 bytes) mod P (reflected), by squaring: what appending `bytes` zero bytes multiplies a register by. */
static inline uint32_t tessera_crc32c_shift(size_t bytes) {
    uint32_t result = 0x80000000u; /* x^0 */
    uint32_t square = 0x00800000u; /* x^8 */
    for (; bytes > 0; bytes >>= 1) {
        if (bytes & 1u) result = tessera_crc32c_multiply(result, square);
        square = tessera_crc32c_multiply(square, square);
    }
    return result;
}

/* Whether tessera_crc32c_sse42 can run on this CPU (false on other architectures). */
static inline int tessera_crc32c_has_sse42(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2");
#else
    return 0;
#endif
}

#if defined(__x86_64__)
static inline uint64_t tessera_crc32c_load(const unsigned char *p) {
    uint64_t word;
    memcpy(&word, p, 8);
    return word;
}

/* The raw register after `count` bytes at `p`, starting from `crc`. Only call when tessera_crc32c_has_sse42(). */
__attribute__((target("sse4.2")))
static inline uint32_t tessera_crc32c_sse42(uint32_t crc, const void *data, size_t count) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t r = crc;
    for (; count > 0 && ((uintptr_t)p & 7u) != 0; count--) r = _mm_crc32_u8((uint32_t)r, *p++);
    if (count >= 3 * (size_t)TESSERA_CRC32C_LANE) {
        const uint32_t shift = tessera_crc32c_shift(TESSERA_CRC32C_LANE);
        for (; count >= 3 * (size_t)TESSERA_CRC32C_LANE; count -= 3 * (size_t)TESSERA_CRC32C_LANE) {
            uint64_t second = 0, third = 0;
            for (size_t i = 0; i < TESSERA_CRC32C_LANE; i += 8) {
                r = _mm_crc32_u64(r, tessera_crc32c_load(p + i));
                second = _mm_crc32_u64(second, tessera_crc32c_load(p + TESSERA_CRC32C_LANE + i));
                third = _mm_crc32_u64(third, tessera_crc32c_load(p + 2 * TESSERA_CRC32C_LANE + i));
            }
            uint32_t joined = tessera_crc32c_multiply((uint32_t)r, shift) ^ (uint32_t)second;
            r = tessera_crc32c_multiply(joined, shift) ^ (uint32_t)third;
            p += 3 * TESSERA_CRC32C_LANE;
        }
    }
    for (; count >= 8; count -= 8, p += 8) r = _mm_crc32_u64(r, tessera_crc32c_load(p));
    for (; count > 0; count--) r = _mm_crc32_u8((uint32_t)r, *p++);
    return (uint32_t)r;
}
#endif
#endif

/* The marker sled of profile.h: MCU_PROF_ENTRIES consecutive `bx lr` (2 bytes each), a function symbol for nm. */
  .syntax unified
  .thumb
  .section .text.mcu_prof_sled, "ax", %progbits
  .balign 4
  .global mcu_prof_sled
  .type mcu_prof_sled, %function
  .thumb_func
mcu_prof_sled:
  .rept 1282   /* kProfEntries = 2 + 256 + 1024 */
  bx lr
  .endr
  .size mcu_prof_sled, . - mcu_prof_sled

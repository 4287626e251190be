/**
 * Architectural MSR indices both the guest kernel and KVM use (arch/x86/include/asm/msr-index.h).
 */
/** IA32_TIME_STAMP_COUNTER: the TSC, as RDTSC reads it. */
export const MSR_IA32_TSC = 0x10;
/**
 * IA32_TSC_DEADLINE: the local APIC timer in TSC-deadline mode. Writing a TSC value arms a one-shot
 * timer that raises the timer interrupt when the TSC reaches it; writing 0 disarms it; after it fires
 * the MSR reads 0 (Intel SDM vol. 3A §11.5.4.1).
 */
export const MSR_IA32_TSC_DEADLINE = 0x6e0;

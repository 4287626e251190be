export { Cpu, GuestFault, disassembleAt, describeInsn, type CpuOptions, type Flags } from './cpu';
// Tests import the fake bus directly from './test-bus' so it stays out of the app bundle.

export { Cpu, GuestFault, disassembleAt, describeInsn, type Flags } from './cpu';

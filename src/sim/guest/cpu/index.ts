export { Cpu, GuestFault, disassembleAt, describeInsn, type CpuOptions, type Flags } from './cpu';
export { TestBus, testMachine, runToHlt, type TestMachine, type PortAccess, type ArmedFault } from './test-bus';

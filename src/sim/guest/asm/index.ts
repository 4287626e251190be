export { ASM_LIMITS, assemble, assembleWithDiagnostics, type AssembleOptions, type Diagnostics } from './assembler';
export { AsmError } from './errors';
export { type Insn, type Operand, type Program, Op, Cond, OPND_REG, OPND_MEM, OPND_IMM } from '../../abi/program';
export { lookupRegister, registerName } from './registers';

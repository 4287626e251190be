/**
 * World-level steps: what happens between hosts and to time itself (a link cut or restored, a
 * transfer, waiting for a virtual time). None yet: the links a scenario declares are plain data in
 * the World until the world's scheduler gives them behaviour (issue 10, the `world` part); its steps
 * go here, declared with defineStep(kind, 'world', ...).
 */
export const WORLD_STEPS = [] as const;

/** The --by and --sort words (plain values: the CLI parses flags without loading the schemas). */
import { DIMENSIONS } from './dimensions.js';

export const ByValues = DIMENSIONS;
export const SortValues = ['count', 'time'] as const;

// Types of the generated ajv standalone modules (validators.js; validators-verbose.cjs has the same exports).
import type { ErrorObject } from "ajv";
export interface GeneratedValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
  /** The export's name, set by validators.js (not by validators-verbose.cjs). */
  exportName?: string;
}
export declare const validateHookEnv: GeneratedValidator;
export declare const validateInstanceEnv: GeneratedValidator;
export declare const validateStartInput: GeneratedValidator;
export declare const validateStartOutput: GeneratedValidator;
export declare const validateHotplugInput: GeneratedValidator;
export declare const validateHotplugOutput: GeneratedValidator;
export declare const validateConfig: GeneratedValidator;
export declare const validateNodeStatus: GeneratedValidator;
export declare const validateInstanceName: GeneratedValidator;

// Types of the generated ajv standalone module (validators.js).
import type { ErrorObject } from "ajv";
export interface GeneratedValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}
export declare const validateHookEnv: GeneratedValidator;
export declare const validateInstanceEnv: GeneratedValidator;
export declare const validateStartInput: GeneratedValidator;
export declare const validateStartOutput: GeneratedValidator;
export declare const validateHotplugInput: GeneratedValidator;
export declare const validateHotplugOutput: GeneratedValidator;

/**
 * The engine's floor for `npm run bench:engine`: a Pulumi program that registers nothing. Its
 * preview and `up` are what the engine and the Automation API cost before any resource or provider.
 */
export = async (): Promise<Record<string, unknown>> => ({});

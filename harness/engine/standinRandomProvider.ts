/**
 * STAND-IN for the `random` resource provider, for the e2e only.
 *
 * The real provider (pulumi-random) is not served on these machines, so the e2e installs this one in
 * its private PULUMI_HOME under the version @pulumi/random asks for. It implements the one resource
 * the program uses, `random:index/randomPassword:RandomPassword`, with the real one's inputs and
 * behaviour that matters to the program: a password of `length` characters from the enabled
 * character sets, generated once, replaced when any input changes, kept in state. Users' `pulumi up`
 * always runs the real provider; this file is never installed outside the e2e.
 */
import * as provider from "@pulumi/pulumi/provider";
import { randomInt } from "crypto";

const passwordType = "random:index/randomPassword:RandomPassword";

/** RandomPassword's inputs, with the real provider's defaults. */
interface PasswordInputs {
    length: number;
    lower: boolean;
    upper: boolean;
    numeric: boolean;
    special: boolean;
    overrideSpecial?: string;
    keepers?: Record<string, string>;
}

const defaults = { lower: true, upper: true, numeric: true, special: true };

/** A password of `length` characters, drawn with a CSPRNG from the enabled sets. */
export function generatePassword(inputs: PasswordInputs): string {
    const sets = [
        inputs.lower ? "abcdefghijklmnopqrstuvwxyz" : "",
        inputs.upper ? "ABCDEFGHIJKLMNOPQRSTUVWXYZ" : "",
        inputs.numeric ? "0123456789" : "",
        inputs.special ? (inputs.overrideSpecial ?? "!@#$%&*()-_=+[]{}<>:?") : "",
    ].join("");
    return Array.from({ length: inputs.length }, () => sets[randomInt(sets.length)]).join("");
}

const standin: provider.Provider = {
    version: require("@pulumi/random/package.json").version,

    async check(urn: string, _olds: unknown, news: Record<string, unknown>) {
        // urn:pulumi:<stack>::<project>::<parent types $-joined>$<type>::<name>
        const type = urn.split("::")[2]?.split("$").pop();
        if (type !== passwordType) {
            return { failures: [{ property: "", reason: `the e2e's stand-in random provider implements only ${passwordType}` }] };
        }
        const inputs = { ...defaults, ...news } as PasswordInputs;
        if (!(Number.isInteger(inputs.length) && inputs.length >= 1)) {
            return { failures: [{ property: "length", reason: `length must be a whole number >= 1, not ${JSON.stringify(news.length)}` }] };
        }
        return { inputs };
    },

    async diff(_id: string, _urn: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        // Like the real provider: every input is ForceNew.
        const keys = ["length", "lower", "upper", "numeric", "special", "overrideSpecial", "keepers"];
        const replaces = keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: replaces.length > 0, replaces };
    },

    async create(_urn: string, inputs: PasswordInputs) {
        return { id: "none", outs: { ...inputs, result: generatePassword(inputs) } };
    },

    async read(id: string, _urn: string, props?: unknown) {
        return { id, props };
    },

    async delete() {
        // Nothing outside the state.
    },
};

if (require.main === module) {
    provider.main(standin, process.argv.slice(2)).catch((error) => {
        console.error(error);
        process.exit(1);
    });
}

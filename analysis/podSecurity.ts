/**
 * The Pod Security Standard `restricted` (which includes `baseline`), field by field, as the Pod
 * Security admission controller checks it at version "latest":
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/ and the checks in
 * k8s.io/pod-security-admission/policy. Used by the tests on every pod template the program registers.
 */
import { allContainers } from "./podTemplates";

const allowedVolumeTypes = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];
const allowedSeccomp = ["RuntimeDefault", "Localhost"];
const allowedSeLinuxTypes = ["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"];
const safeSysctls = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/** Every way a pod template breaks `restricted`, as `<field>: <problem>`; empty when it complies. */
export function restrictedViolations(template: { metadata?: { annotations?: Record<string, string> }; spec: any }): string[] {
    const spec = template.spec ?? {};
    const pod = spec.securityContext ?? {};
    const containers = allContainers(spec).map((c: any) => ({ name: c.name as string, c, sc: c.securityContext ?? {} }));
    const problems: string[] = [];
    const problem = (field: string, text: string) => problems.push(`${field}: ${text}`);
    const each = (check: (name: string, c: any, sc: any) => void) => containers.forEach(({ name, c, sc }) => check(name, c, sc));

    // Baseline: host namespaces, privileged, host ports, hostProcess, AppArmor, SELinux, /proc mount, sysctls.
    for (const field of ["hostNetwork", "hostPID", "hostIPC"]) {
        if (spec[field]) problem(`spec.${field}`, "must be false or unset");
    }
    if (pod.windowsOptions?.hostProcess) problem("spec.securityContext.windowsOptions.hostProcess", "must not be true");
    checkAppArmor("spec.securityContext", pod, problem);
    checkSeLinux("spec.securityContext", pod, problem);
    for (const sysctl of pod.sysctls ?? []) {
        if (!safeSysctls.includes(sysctl.name)) problem("spec.securityContext.sysctls", `${sysctl.name} is not a safe sysctl`);
    }
    for (const [key, value] of Object.entries(template.metadata?.annotations ?? {})) {
        if (key.startsWith("container.apparmor.security.beta.kubernetes.io/") && value !== "runtime/default" && !value.startsWith("localhost/")) {
            problem(`metadata.annotations[${key}]`, `${value} is neither runtime/default nor localhost/*`);
        }
    }
    each((name, c, sc) => {
        const at = `container ${name}`;
        if (sc.privileged) problem(`${at} securityContext.privileged`, "must be false or unset");
        if (sc.windowsOptions?.hostProcess) problem(`${at} securityContext.windowsOptions.hostProcess`, "must not be true");
        if (sc.procMount !== undefined && sc.procMount !== "Default") problem(`${at} securityContext.procMount`, `${sc.procMount} is not Default`);
        for (const port of c.ports ?? []) {
            if (port.hostPort) problem(`${at} ports[${port.name ?? port.containerPort}].hostPort`, `${port.hostPort} must be 0 or unset`);
        }
        checkAppArmor(`${at} securityContext`, sc, problem);
        checkSeLinux(`${at} securityContext`, sc, problem);
    });

    // Restricted: volume types, privilege escalation, non-root, seccomp, capabilities.
    for (const volume of spec.volumes ?? []) {
        const types = Object.keys(volume).filter((k) => k !== "name");
        if (!types.every((t) => allowedVolumeTypes.includes(t))) problem(`spec.volumes[${volume.name}]`, `type ${types.join(", ")} is not allowed (${allowedVolumeTypes.join(", ")})`);
    }
    each((name, _c, sc) => {
        if (sc.allowPrivilegeEscalation !== false) problem(`container ${name} securityContext.allowPrivilegeEscalation`, "must be false");
    });
    if (pod.runAsNonRoot === false) problem("spec.securityContext.runAsNonRoot", "must not be false");
    each((name, _c, sc) => {
        if (sc.runAsNonRoot === false) problem(`container ${name} securityContext.runAsNonRoot`, "must not be false");
        else if (sc.runAsNonRoot !== true && pod.runAsNonRoot !== true) problem(`container ${name} securityContext.runAsNonRoot`, "must be true here or at pod level");
    });
    if (pod.runAsUser === 0) problem("spec.securityContext.runAsUser", "must not be 0");
    each((name, _c, sc) => {
        if (sc.runAsUser === 0) problem(`container ${name} securityContext.runAsUser`, "must not be 0");
    });
    const podSeccomp = pod.seccompProfile?.type;
    if (podSeccomp !== undefined && !allowedSeccomp.includes(podSeccomp)) problem("spec.securityContext.seccompProfile.type", `${podSeccomp} is not RuntimeDefault or Localhost`);
    each((name, _c, sc) => {
        const type = sc.seccompProfile?.type;
        if (type !== undefined && !allowedSeccomp.includes(type)) problem(`container ${name} securityContext.seccompProfile.type`, `${type} is not RuntimeDefault or Localhost`);
        else if (type === undefined && podSeccomp === undefined) problem(`container ${name} securityContext.seccompProfile.type`, "must be RuntimeDefault or Localhost here or at pod level");
    });
    each((name, _c, sc) => {
        if (!(sc.capabilities?.drop ?? []).includes("ALL")) problem(`container ${name} securityContext.capabilities.drop`, "must include ALL");
        for (const cap of sc.capabilities?.add ?? []) {
            if (cap !== "NET_BIND_SERVICE") problem(`container ${name} securityContext.capabilities.add`, `${cap} is not NET_BIND_SERVICE`);
        }
    });
    return problems;
}

function checkAppArmor(at: string, sc: any, problem: (field: string, text: string) => void): void {
    const type = sc.appArmorProfile?.type;
    if (type !== undefined && type !== "RuntimeDefault" && type !== "Localhost") problem(`${at}.appArmorProfile.type`, `${type} is not RuntimeDefault or Localhost`);
}

function checkSeLinux(at: string, sc: any, problem: (field: string, text: string) => void): void {
    const options = sc.seLinuxOptions;
    if (!options) return;
    if (!allowedSeLinuxTypes.includes(options.type ?? "")) problem(`${at}.seLinuxOptions.type`, `${options.type} is not a container type`);
    if (options.user || options.role) problem(`${at}.seLinuxOptions`, "user and role must be unset");
}

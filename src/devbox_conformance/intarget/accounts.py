"""users and groups: the passwd and group databases (through NSS, as any program in the target sees them)."""

import grp
import pwd


def probe_user(name):
    try:
        u = pwd.getpwnam(name)
    except KeyError:
        return None
    return {"uid": u.pw_uid, "gid": u.pw_gid, "home": u.pw_dir, "shell": u.pw_shell}


def probe_group(name):
    try:
        g = grp.getgrnam(name)
    except KeyError:
        return None
    return {"gid": g.gr_gid, "members": list(g.gr_mem)}


def gather(request, pool):
    return {
        "users": {name: probe_user(name) for name in request.get("users", [])},
        "groups": {name: probe_group(name) for name in request.get("groups", [])},
    }

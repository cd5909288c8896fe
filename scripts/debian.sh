# Sourced by the setup scripts: ensure_debian_packages PKG... installs the Debian packages among
# PKG that are missing (as root; otherwise it names them with the apt-get command and exits 1),
# adding the foreign architecture of a PKG:ARCH first. Sets debian_installed to the packages it
# installed. The caller defines say().

ensure_debian_packages() {
    local missing=() pkg arch
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    debian_installed=("${missing[@]}")
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        say "missing Debian packages: ${missing[*]}"
        say "run as root: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
        exit 1
    fi
    say "installing Debian packages: ${missing[*]}"
    for pkg in "${missing[@]}"; do
        if [[ $pkg == *:* ]]; then
            arch=${pkg##*:}
            dpkg --print-foreign-architectures | grep -qx "$arch" || dpkg --add-architecture "$arch"
        fi
    done
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

#!/usr/bin/env bash
# gridgate installer for Raspberry Pi OS / Debian 12.
#
#   sudo ./install.sh                 install or update (running it again changes nothing)
#   sudo ./install.sh --uninstall     remove the program and the unit; keep config and state
#   sudo ./install.sh --uninstall --purge   also remove config, state and the gridgate user
#   ./install.sh --root DIR           install into DIR (tests, images): no apt, systemctl or
#                                     useradd on this machine; users, groups and the unit's
#                                     enablement are written into DIR's own files instead
#
# Layout: program /opt/gridgate (a venv), config /etc/gridgate, state /var/lib/gridgate,
# unit /etc/systemd/system/gridgate.service, command /usr/local/bin/gridgate.
set -euo pipefail

readonly UNIT=gridgate.service
readonly SERVICE_USER=gridgate
readonly VENV_DIR=/opt/gridgate
readonly CONFIG_DIR=/etc/gridgate
readonly STATE_DIR=/var/lib/gridgate
readonly UNIT_PATH=/etc/systemd/system/$UNIT
readonly WANTS_DIR=/etc/systemd/system/multi-user.target.wants
readonly UDEV_RULE=/etc/udev/rules.d/60-gridgate-gpio.rules
readonly COMMAND_LINK=/usr/local/bin/gridgate
readonly DOC_DIR=$VENV_DIR/share/doc/gridgate
readonly STAMP_NAME=.gridgate-install
# libzbar0: the pyzbar QR decoder; v4l-utils: v4l2-ctl for camera modes; mosquitto-clients:
# broker checks by hand; python3-venv: the venv itself; espeak-ng: the gate display's prompts.
readonly APT_PACKAGES=(python3 python3-venv libzbar0 v4l-utils mosquitto-clients espeak-ng)
# Pi pin factory; only on Raspberry Pi OS and newer Debian, so installed when apt knows it.
readonly APT_OPTIONAL=(python3-lgpio)
# Development tools in requirements.txt that a gate does not need (import-linter checks the
# layer rule in tests/test_layers.py; grimp, rich, markdown-it-py and mdurl come with it;
# mypy checks types in `make lint`; mypy_extensions, librt, ast_serialize, pathspec with it).
readonly DEV_ONLY='^(pytest|pytest-timeout|hypothesis|playwright|ruff|import-linter|grimp|rich|markdown-it-py|mdurl|mypy|mypy_extensions|librt|ast_serialize|pathspec)=='

ROOT=""
SOURCE=""
ACTION=install
PURGE=0
WITH_APT=1
WITH_DEPS=1
WHEELHOUSE=""
CHANGES=0

log() { printf 'gridgate-install: %s\n' "$*"; }
changed() { CHANGES=$((CHANGES + 1)); log "$*"; }
die() { printf 'gridgate-install: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

Options:
  --root DIR     install into DIR instead of / (nothing on this machine is touched)
  --source DIR   the gridgate source tree (default: the folder of this script)
  --uninstall    remove the program, the unit and the udev rule; keep config and state
  --purge        with --uninstall: also remove config, state and the gridgate user
  --no-apt       do not install system packages
  --wheelhouse DIR  take Python packages from DIR only (offline installs); a gridgate-*.whl
                 there is installed instead of building the source
  --no-deps      install gridgate without its Python dependencies (needs a gridgate wheel in
                 --wheelhouse; for images that provide the dependencies, and for tests)
  -h, --help     this help
EOF
}

# The path of an installed file inside the target tree.
t() { printf '%s%s' "$ROOT" "$1"; }

in_tree() { [ -n "$ROOT" ]; }

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift ;;
            --root=*) ROOT=${1#--root=} ;;
            --source) [ $# -ge 2 ] || die "--source needs a directory"; SOURCE=$2; shift ;;
            --source=*) SOURCE=${1#--source=} ;;
            --uninstall) ACTION=uninstall ;;
            --purge) PURGE=1 ;;
            --no-apt) WITH_APT=0 ;;
            --no-deps) WITH_DEPS=0 ;;
            --wheelhouse) [ $# -ge 2 ] || die "--wheelhouse needs a directory"; WHEELHOUSE=$2
                shift ;;
            --wheelhouse=*) WHEELHOUSE=${1#--wheelhouse=} ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
        shift
    done
    if [ "$PURGE" = 1 ] && [ "$ACTION" != uninstall ]; then
        die "--purge goes with --uninstall"
    fi
    if [ -n "$ROOT" ]; then
        mkdir -p "$ROOT"
        ROOT=$(cd "$ROOT" && pwd)
        [ "$ROOT" = / ] && ROOT=""
    fi
    if [ -z "$SOURCE" ]; then
        SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    fi
    SOURCE=$(cd "$SOURCE" && pwd)
    if [ -n "$WHEELHOUSE" ]; then
        [ -d "$WHEELHOUSE" ] || die "--wheelhouse $WHEELHOUSE is not a directory"
        WHEELHOUSE=$(cd "$WHEELHOUSE" && pwd)
    fi
}

# The gridgate wheel in the wheelhouse, if there is one.
project_wheel() {
    [ -n "$WHEELHOUSE" ] || return 0
    find "$WHEELHOUSE" -maxdepth 1 -name 'gridgate-*.whl' | sort | tail -n 1
}

preflight() {
    if ! in_tree && [ "$(id -u)" != 0 ]; then
        die "run as root (sudo $0 $*), or use --root DIR to install into a folder"
    fi
    if [ "$ACTION" = install ]; then
        for needed in pyproject.toml requirements.txt systemd/$UNIT edge/__init__.py \
            docs/configuration.md config/gridgate.example.toml; do
            [ -e "$SOURCE/$needed" ] || die "$SOURCE is not a gridgate source tree (no $needed)"
        done
        command -v python3 >/dev/null || die "python3 is missing: apt-get install python3"
        if [ "$WITH_DEPS" = 0 ] && [ -z "$(project_wheel)" ]; then
            die "--no-deps needs a gridgate wheel in --wheelhouse DIR" \
                "(build one: pip wheel --no-deps -w DIR $SOURCE)"
        fi
    fi
    local id="" version=""
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        id=$(. /etc/os-release && printf '%s' "${ID:-}")
        # shellcheck disable=SC1091
        version=$(. /etc/os-release && printf '%s' "${VERSION_ID:-}")
    fi
    case "$id:$version" in
        debian:12|raspbian:12) ;;
        *) log "note: made for Debian 12 / Raspberry Pi OS; this is '${id:-unknown} ${version}'" ;;
    esac
}

# --- system packages --------------------------------------------------------------------------

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

apt_packages() {
    if [ "$WITH_APT" = 0 ]; then
        log "system packages: skipped (--no-apt)"
        return
    fi
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    for pkg in "${APT_OPTIONAL[@]}"; do
        if ! is_installed "$pkg" && apt-cache show "$pkg" >/dev/null 2>&1; then
            missing+=("$pkg")
        fi
    done
    if [ ${#missing[@]} = 0 ]; then
        log "system packages: all present"
    elif in_tree; then
        log "system packages: would apt-get install ${missing[*]} (skipped in --root mode)"
    else
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}"
        changed "system packages: installed ${missing[*]}"
    fi
}

# --- user and groups --------------------------------------------------------------------------

# A free system id (999 downwards, as useradd --system picks) in a passwd/group-like file.
free_id() {
    local file=$1 id
    for ((id = 999; id >= 100; id--)); do
        if ! cut -d: -f3 "$file" | grep -qx "$id"; then
            printf '%s' "$id"
            return
        fi
    done
    die "no free system id in $file"
}

tree_group() {
    local name=$1 file
    file=$(t /etc/group)
    mkdir -p "$(dirname "$file")"
    [ -e "$file" ] || : >"$file"
    if ! grep -q "^$name:" "$file"; then
        printf '%s:x:%s:\n' "$name" "$(free_id "$file")" >>"$file"
        changed "group $name: added to $file"
    fi
}

tree_member() {
    local group=$1 user=$2 file line members
    file=$(t /etc/group)
    line=$(grep "^$group:" "$file")
    members=${line##*:}
    if ! printf '%s' ",$members," | grep -q ",$user,"; then
        sed -i "s/^$group:\(.*\):\([^:]*\)\$/$group:\1:\2${members:+,}$user/" "$file"
        changed "group $group: $user added as a member in $file"
    fi
}

tree_user() {
    local passwd gid
    passwd=$(t /etc/passwd)
    mkdir -p "$(dirname "$passwd")"
    [ -e "$passwd" ] || : >"$passwd"
    tree_group "$SERVICE_USER"
    if ! grep -q "^$SERVICE_USER:" "$passwd"; then
        gid=$(grep "^$SERVICE_USER:" "$(t /etc/group)" | cut -d: -f3)
        printf '%s:x:%s:%s:gridgate gate service:%s:/usr/sbin/nologin\n' \
            "$SERVICE_USER" "$(free_id "$passwd")" "$gid" "$STATE_DIR" >>"$passwd"
        changed "user $SERVICE_USER: added to $passwd"
    fi
}

user_and_groups() {
    local group
    if in_tree; then
        log "user and groups: written into $(t /etc)/passwd and group (no useradd in --root mode)"
        tree_user
        for group in gpio video; do
            tree_group "$group"
            tree_member "$group" "$SERVICE_USER"
        done
        return
    fi
    for group in gpio video; do
        if ! getent group "$group" >/dev/null; then
            groupadd --system "$group"
            changed "group $group: created"
        fi
    done
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "gridgate gate service" "$SERVICE_USER"
        changed "user $SERVICE_USER: created"
    fi
    for group in gpio video; do
        if ! id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx "$group"; then
            usermod -aG "$group" "$SERVICE_USER"
            changed "user $SERVICE_USER: added to group $group"
        fi
    done
    log "user $SERVICE_USER: groups $(id -nG "$SERVICE_USER")"
}

# --- files and directories --------------------------------------------------------------------

ensure_dir() {
    local dir=$1 mode=$2 owner=$3 path
    path=$(t "$dir")
    if [ ! -d "$path" ]; then
        mkdir -p "$path"
        chmod "$mode" "$path"
        changed "created $dir (mode $mode)"
    elif [ "$(stat -c %a "$path")" != "${mode#0}" ]; then
        chmod "$mode" "$path"
        changed "$dir: mode set to $mode"
    fi
    if in_tree; then
        return  # the tree's owners exist only in its own passwd; ownership is set on a real install
    fi
    if [ "$(stat -c %U:%G "$path")" != "$owner" ]; then
        chown "$owner" "$path"
        changed "$dir: owner set to $owner"
    fi
}

ensure_file() {
    local src=$1 dest=$2 mode=$3 path
    path=$(t "$dest")
    if [ -f "$path" ] && cmp -s "$src" "$path" && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then
        return 1
    fi
    mkdir -p "$(dirname "$path")"
    install -m "$mode" "$src" "$path"
    changed "installed $dest"
}

ensure_link() {
    local target=$1 link=$2 path
    path=$(t "$link")
    if [ -L "$path" ] && [ "$(readlink "$path")" = "$target" ]; then
        return 1
    fi
    mkdir -p "$(dirname "$path")"
    ln -sfn "$target" "$path"
    changed "linked $link -> $target"
}

directories() {
    ensure_dir "$VENV_DIR" 0755 root:root
    ensure_dir "$CONFIG_DIR" 0750 "root:$SERVICE_USER"
    ensure_dir "$STATE_DIR" 0750 "$SERVICE_USER:$SERVICE_USER"
}

# --- the program ------------------------------------------------------------------------------

# What the venv was built from: a change to any of it reinstalls, nothing else does.
source_digest() {
    (
        cd "$SOURCE"
        {
            printf 'deps=%s wheels:\n' "$WITH_DEPS"
            if [ -n "$WHEELHOUSE" ]; then
                find "$WHEELHOUSE" -maxdepth 1 -name '*.whl' -printf '%f %s\n' | sort
            fi
            sha256sum pyproject.toml requirements.txt README.md Makefile
            find edge gate vision sync -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
                -print0 | sort -z | xargs -0 sha256sum
        } | sha256sum | cut -d' ' -f1
    )
}

program() {
    local venv stamp digest build face wheel pip_from=()
    venv=$(t "$VENV_DIR")
    stamp=$venv/$STAMP_NAME
    digest=$(source_digest)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ] && [ -x "$venv/bin/gridgate" ]; then
        log "program: $VENV_DIR is up to date"
        return
    fi
    if [ ! -x "$venv/bin/python" ]; then
        # System site packages make apt's python3-lgpio (the Pi's pin factory) visible.
        python3 -m venv --system-site-packages "$venv"
        changed "program: created the venv $VENV_DIR"
    fi
    if [ -n "$WHEELHOUSE" ]; then
        pip_from=(--no-index --find-links "$WHEELHOUSE")
    fi
    build=$(mktemp -d)
    if [ "$WITH_DEPS" = 1 ]; then
        grep -Ev "$DEV_ONLY" "$SOURCE/requirements.txt" >"$build/requirements.txt"
        "$venv/bin/python" -m pip install -q "${pip_from[@]}" -r "$build/requirements.txt"
        # face-recognition would pull dlib and compile it; dlib-bin provides it prebuilt.
        face=$(sed -n 's/^FACE_RECOGNITION := //p' "$SOURCE/Makefile")
        "$venv/bin/python" -m pip install -q "${pip_from[@]}" --no-deps \
            "${face:-face-recognition==1.3.0}"
    fi
    wheel=$(project_wheel)
    if [ -n "$wheel" ]; then
        "$venv/bin/python" -m pip install -q --no-deps --no-index --no-compile \
            --disable-pip-version-check --force-reinstall "$wheel"
    else
        # pip builds in the tree it is given; a copy keeps the source checkout clean. The
        # pinned setuptools from requirements.txt is the build backend.
        mkdir "$build/src"
        cp -r "$SOURCE/pyproject.toml" "$SOURCE/README.md" "$SOURCE/edge" "$SOURCE/gate" \
            "$SOURCE/vision" "$SOURCE/sync" "$build/src/"
        find "$build/src" -name __pycache__ -prune -exec rm -rf {} +
        "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation --no-compile \
            --disable-pip-version-check "$build/src"
    fi
    rm -rf "$build"
    printf '%s\n' "$digest" >"$stamp"
    changed "program: gridgate installed into $VENV_DIR"
}

# The gate display's spoken prompts, made with espeak-ng into the program's share folder (where
# the display looks by default); files whose sound is unchanged are not rewritten.
prompts() {
    local venv written
    venv=$(t "$VENV_DIR")
    if ! command -v espeak-ng >/dev/null 2>&1; then
        log "spoken prompts: skipped, espeak-ng is missing (apt-get install espeak-ng, then" \
            "run this again)"
        return
    fi
    if ! written=$("$venv/bin/python" -m edge.display.prompts \
        --out "$venv/share/gridgate/prompts"); then
        log "spoken prompts: not made (see above); the display works without its voice"
        return
    fi
    if [ "$written" != 0 ]; then
        changed "spoken prompts: $written file(s) written into $VENV_DIR/share/gridgate/prompts"
    fi
}

files() {
    ensure_link "$VENV_DIR/bin/gridgate" "$COMMAND_LINK" || true
    ensure_file "$SOURCE/docs/configuration.md" "$DOC_DIR/configuration.md" 0644 || true
    ensure_file "$SOURCE/config/gridgate.example.toml" "$CONFIG_DIR/gridgate.example.toml" 0640 \
        || true
    local rule
    rule=$(mktemp)
    # Debian has no gpio group rule (Raspberry Pi OS does); the group must own the chips.
    printf '%s\n' '# gridgate: members of group gpio may drive the GPIO lines' \
        'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"' \
        'KERNEL=="gpiomem", GROUP="gpio", MODE="0660"' >"$rule"
    if ensure_file "$rule" "$UDEV_RULE" 0644 && ! in_tree; then
        if udevadm control --reload-rules 2>/dev/null; then
            udevadm trigger --subsystem-match=gpio 2>/dev/null || true
        fi
    fi
    rm -f "$rule"
}

systemd_running() { ! in_tree && [ -d /run/systemd/system ]; }

service() {
    local unit_changed=0 config
    config=$(t "$CONFIG_DIR/gridgate.toml")
    if ensure_file "$SOURCE/systemd/$UNIT" "$UNIT_PATH" 0644; then
        unit_changed=1
    fi
    if in_tree || ! systemd_running; then
        # What `systemctl enable` does: a link in the target's wants folder.
        ensure_link "$UNIT_PATH" "$WANTS_DIR/$UNIT" || log "unit: $UNIT already enabled"
        if in_tree; then
            log "unit: systemctl skipped in --root mode; the unit starts when the target boots"
        else
            log "unit: systemd is not running here; the unit starts at the next boot"
        fi
        return
    fi
    if [ "$unit_changed" = 1 ]; then
        systemctl daemon-reload
    fi
    if ! systemctl is-enabled --quiet "$UNIT"; then
        systemctl enable --quiet "$UNIT"
        changed "unit: $UNIT enabled"
    fi
    if [ ! -f "$config" ]; then
        log "unit: not started yet, there is no $CONFIG_DIR/gridgate.toml"
    elif ! systemctl is-active --quiet "$UNIT"; then
        if systemctl start "$UNIT"; then
            changed "unit: $UNIT started"
        else
            log "unit: $UNIT did not start; see: journalctl -u gridgate -e"
        fi
    elif [ "$CHANGES" -gt 0 ]; then
        systemctl restart "$UNIT"
        log "unit: $UNIT restarted with the new version"
    fi
}

next_steps() {
    if [ "$CHANGES" = 0 ]; then
        log "nothing to change: gridgate is installed and up to date"
    else
        log "done: $CHANGES change(s)"
    fi
    if [ ! -f "$(t "$CONFIG_DIR/gridgate.toml")" ]; then
        cat <<EOF
gridgate-install: next steps:
  1. sudo gridgate init --config $CONFIG_DIR/gridgate.toml     (asks for gate, camera, pins)
  2. sudo gridgate doctor --config $CONFIG_DIR/gridgate.toml   (checks camera, relay, broker)
  3. for the guard panel over HTTPS (the key must belong to the service user):
     sudo -u $SERVICE_USER gridgate panel cert --if-missing --config $CONFIG_DIR/gridgate.toml
  4. sudo -u $SERVICE_USER gridgate user add NAME --role admin --config $CONFIG_DIR/gridgate.toml
  5. sudo systemctl start gridgate && journalctl -u gridgate -f
EOF
    fi
}

# --- uninstall --------------------------------------------------------------------------------

remove() {
    local path
    path=$(t "$1")
    if [ -e "$path" ] || [ -L "$path" ]; then
        rm -rf "$path"
        changed "removed $1"
    fi
}

tree_forget_user() {
    local passwd group
    passwd=$(t /etc/passwd)
    group=$(t /etc/group)
    if [ -f "$passwd" ] && grep -q "^$SERVICE_USER:" "$passwd"; then
        sed -i "/^$SERVICE_USER:/d" "$passwd"
        changed "user $SERVICE_USER: removed from $passwd"
    fi
    if [ -f "$group" ] && grep -q "^$SERVICE_USER:" "$group"; then
        sed -i "/^$SERVICE_USER:/d" "$group"
        changed "group $SERVICE_USER: removed from $group"
    fi
    if [ -f "$group" ] && grep -Eq "[:,]$SERVICE_USER(,|\$)" "$group"; then
        sed -i -E "s/([:,])$SERVICE_USER(,|\$)/\1/; s/,\$//" "$group"
        changed "user $SERVICE_USER: removed from its groups in $group"
    fi
}

# Home Assistant forgets the gate's entities only once their retained discovery configs are
# removed from the broker: done after the service stopped, while the program is still here.
withdraw_home_assistant() {
    local gridgate config
    gridgate=$(t "$VENV_DIR/bin/gridgate")
    config=$(t "$CONFIG_DIR/gridgate.toml")
    if in_tree || [ ! -x "$gridgate" ] || [ ! -f "$config" ]; then
        return 0
    fi
    if ! "$gridgate" homeassistant remove --config "$config" --timeout 10; then
        log "warning: the Home Assistant entities stay on the broker; remove them with" \
            "'gridgate homeassistant remove --config gridgate.toml' from a machine that reaches it"
    fi
}

uninstall() {
    if systemd_running && systemctl list-unit-files "$UNIT" >/dev/null 2>&1; then
        systemctl disable --now --quiet "$UNIT" 2>/dev/null || true
        log "unit: $UNIT stopped and disabled"
    fi
    withdraw_home_assistant
    remove "$WANTS_DIR/$UNIT"
    remove "$UNIT_PATH"
    if systemd_running; then
        systemctl daemon-reload
    fi
    remove "$UDEV_RULE"
    if [ -L "$(t "$COMMAND_LINK")" ] \
        && [ "$(readlink "$(t "$COMMAND_LINK")")" = "$VENV_DIR/bin/gridgate" ]; then
        remove "$COMMAND_LINK"
    fi
    remove "$VENV_DIR"
    remove "$CONFIG_DIR/gridgate.example.toml"
    if [ "$PURGE" = 0 ]; then
        log "kept $CONFIG_DIR and $STATE_DIR (journal, keys) and the user $SERVICE_USER;" \
            "--uninstall --purge removes them"
    else
        remove "$CONFIG_DIR"
        remove "$STATE_DIR"
        if in_tree; then
            tree_forget_user
        elif getent passwd "$SERVICE_USER" >/dev/null; then
            userdel "$SERVICE_USER"
            changed "user $SERVICE_USER: removed"
        fi
        log "groups gpio and video are kept: other programs may use them"
    fi
    if [ "$CHANGES" = 0 ]; then
        log "nothing to remove"
    else
        log "uninstalled: $CHANGES change(s)"
    fi
}

main() {
    parse_args "$@"
    preflight "$@"
    log "${ACTION} into ${ROOT:-/} from $SOURCE"
    if [ "$ACTION" = uninstall ]; then
        uninstall
        return
    fi
    apt_packages
    user_and_groups
    directories
    program
    prompts
    files
    service
    next_steps
}

main "$@"

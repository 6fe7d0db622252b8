//! The POSIX shell that runs on an SSH host, and how values are quoted for it. These
//! scripts are fixed text; what varies reaches them as quoted arguments (paths, ids)
//! or on stdin (a step's variables and script).

/// `value` in single quotes, safe as one shell word whatever it holds.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// Runs one step. `$1` is its directory, `$2` the line that ends the variables on
/// stdin. Stdin then stays open: a line on it, or its end (the channel or the
/// connection gone), kills the step's whole process group.
pub const STEP: &str = r#"
__ferry_env=''
while IFS= read -r __ferry_line; do
  [ "$__ferry_line" = "$2" ] && break
  __ferry_env="$__ferry_env$__ferry_line
"
done
eval "$__ferry_env"
unset __ferry_env __ferry_line
cd "$1" || { echo "cannot enter $1" >&2; exit 126; }
exec 3<&0
setsid /bin/sh -c "$__ferry_script" </dev/null &
__ferry_step=$!
( IFS= read -r __ferry_stop <&3; kill -KILL "-$__ferry_step" 2>/dev/null ) &
__ferry_watch=$!
exec 3<&-
wait "$__ferry_step"
__ferry_code=$?
kill "$__ferry_watch" 2>/dev/null
exit "$__ferry_code"
"#;

/// Receives an artifact on stdin into `$2` (in `$1`), checks it against the SHA-256
/// `$4`, and only then unpacks it into `$3`.
pub const UPLOAD: &str = r#"
set -e
umask 022
mkdir -p "$1"
cat > "$2"
sum=$(sha256sum < "$2")
if [ "${sum%% *}" != "$4" ]; then
  rm -f "$2"
  echo "the artifact arrived damaged: its checksum is not sha256:$4" >&2
  exit 3
fi
rm -rf "$3"
mkdir -p "$3"
tar -xzf "$2" -C "$3" --no-same-owner
rm -f "$2"
"#;

/// The release layout on the host, as `release_dir.rs` keeps it on Ferry's machine:
/// `$2/releases/<id>/`, `current` and the slots swapped with one rename. `$1` is the
/// operation, `$3` the release, `$4` the deployment, `$5` a slot, `$6` how many
/// releases to keep. Each operation ends by saying where `current` and the live slot
/// are (`current=…`, `slot=…` lines), so the caller need not ask again.
pub const LAYOUT: &str = r#"
set -e
op=$1 dir=$2 release=$3 deployment=$4 slot=$5 keep=$6
releases="$dir/releases"
incoming="$releases/.incoming-$deployment"
home="$dir/homes/$deployment"
point() {
  ln -sfn "releases/$release" "$dir/.$1-$deployment"
  mv -T "$dir/.$1-$deployment" "$dir/$1"
}
place_incoming() {
  if [ -e "$releases/$release" ]; then
    rm -rf "$releases/.replaced-$deployment"
    mv "$releases/$release" "$releases/.replaced-$deployment"
    mv "$incoming" "$releases/$release"
    rm -rf "$releases/.replaced-$deployment"
  else
    mv "$incoming" "$releases/$release"
  fi
}
existing() {
  [ -d "$releases/$release" ] || { echo "release $release is no longer on this target ($releases/$release)" >&2; exit 3; }
}
case "$op" in
  look) ;;
  home) mkdir -p "$home"; chmod 700 "$dir" ;;
  switch) place_incoming; point current; touch "$releases/$release" ;;
  activate) existing; point current; touch "$releases/$release" ;;
  stage) place_incoming; point "slot-$slot" ;;
  restage) existing; point "slot-$slot" ;;
  go-live)
    existing; point current; touch "$releases/$release"
    printf '%s\n' "$slot" > "$dir/.live-slot-$deployment"
    mv -f "$dir/.live-slot-$deployment" "$dir/live-slot" ;;
  prune)
    live=$(readlink "$dir/current" 2>/dev/null || true); live=${live##*/}
    if [ -d "$releases" ]; then
      kept=0
      # Newest first; the live release always counts as the newest.
      for id in $( cd "$releases" && { [ -n "$live" ] && [ -d "$live" ] && echo "$live"; ls -1t | grep -E '^[0-9]+$' | grep -vx "$live"; } ); do
        kept=$((kept + 1))
        if [ "$kept" -gt "$keep" ]; then rm -rf "${releases:?}/$id"; echo "removed=$id"; fi
      done
    fi ;;
  retire) rm -rf "$dir/current" "$dir/live-slot" "$dir"/slot-* "$releases" ;;
  clean) rm -rf "$incoming" "$home" ;;
  clean-home) rm -rf "$home" ;;
  *) echo "unknown operation $op" >&2; exit 2 ;;
esac
printf 'current=%s\n' "$(readlink "$dir/current" 2>/dev/null || true)"
printf 'slot=%s\n' "$(cat "$dir/live-slot" 2>/dev/null || true)"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        let tricky = "a'b \"c\" $HOME `id` \\ \n end";
        let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", quote(tricky))).output();
        assert_eq!(String::from_utf8(out.unwrap().stdout).unwrap(), tricky);
    }
}

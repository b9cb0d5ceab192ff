#!/usr/bin/env bash
# The Rasa NLU server, the bot's second NLU backend: install it, train it, serve it.
#
#   bash scripts/rasa.sh install    .venv-rasa (Python 3.10) with rasa==3.6.21; no-op when done
#   bash scripts/rasa.sh train      train nlu/config.yml on nlu/data; no-op when both are unchanged
#   bash scripts/rasa.sh serve      serve the model at http://$RASA_HOST:$RASA_PORT (trains first)
#   bash scripts/rasa.sh all        install + train + serve
#   bash scripts/rasa.sh validate   rasa data validate (nlu/data against nlu/domain.yml)
#   bash scripts/rasa.sh model      print the path of the model for the current config and data
#
# Environment (all optional):
#   RASA_HOST (127.0.0.1), RASA_PORT (5005)   where `serve` listens
#   RASA_TOKEN                                  require ?token=... on the HTTP API
#   RASA_PYTHON                                 a Python 3.10 interpreter (found on PATH or pyenv)
#   UV                                          the uv to install with (default .venv/bin/uv, else pip)
#   RASA_VENV (.venv-rasa), RASA_VAR (var/rasa) where the virtualenv and models, caches, home live
#   RASA_CONFIG (nlu/config.yml), RASA_DATA (nlu/data), RASA_MODELS (var/rasa/models)
#
# Rasa never sees the user's home: HOME, XDG dirs, its cache and matplotlib/keras files all sit
# under var/rasa/, and telemetry is off (env var plus Rasa's own global setting).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RASA_VERSION="3.6.21"
VENV="${RASA_VENV:-$ROOT/.venv-rasa}"
VAR="${RASA_VAR:-$ROOT/var/rasa}"
CONFIG="${RASA_CONFIG:-$ROOT/nlu/config.yml}"
DATA="${RASA_DATA:-$ROOT/nlu/data}"
MODELS="${RASA_MODELS:-$VAR/models}"
HOST="${RASA_HOST:-127.0.0.1}"
PORT="${RASA_PORT:-5005}"

# Every version that pip resolved for rasa==3.6.21 on Python 3.10 / Linux x86_64 (pip check clean).
# Rasa bounds its own dependencies, but TensorFlow 2.12 leaves several open (jax, ml-dtypes,
# protobuf, setuptools: Rasa imports pkg_resources, which newer setuptools drop), so pinning the
# whole set keeps a fresh clone installing exactly what was tested, with no resolver backtracking.
CONSTRAINTS="
absl-py==1.4.0 aio-pika==8.2.3 aiofiles==25.1.0 aiogram==2.15 aiohttp==3.9.5 aiohttp-retry==2.9.1
aiormq==6.4.2 aiosignal==1.4.0 anyio==4.16.0 APScheduler==3.9.1.post1 astunparse==1.6.3
async-timeout==4.0.3 attrs==22.1.0 babel==2.19.0 bidict==0.23.1 boto3==1.44.8 botocore==1.44.8
CacheControl==0.12.14 certifi==2026.10.19.post1 cffi==2.1.1 charset-normalizer==3.5.3 click==8.5.1
cloudpickle==3.1.3 colorclass==2.2.2 coloredlogs==15.0.1 colorhash==1.2.1 confluent-kafka==2.16.1
cryptography==50.0.2 cycler==0.12.1 dask==2022.10.2 dnspython==2.3.0 docopt==0.6.2
exceptiongroup==1.3.2 fbmessenger==6.0.0 filelock==4.1.0 fire==0.7.1 flatbuffers==25.12.19
fonttools==4.65.0 frozenlist==1.8.0 fsspec==2026.9.0 future==1.0.0 gast==0.4.0 google-auth==2.63.0
google-auth-oauthlib==1.0.0 google-pasta==0.2.0 greenlet==3.5.6 grpcio==1.85.3 h11==0.16.0
h5py==3.16.0 hf-xet==1.8.0 httpcore2==2.14.0 httptools==0.9.0 httpx2==2.14.0 huggingface_hub==2.4.0
humanfriendly==10.0 idna==3.20 jax==0.4.30 jaxlib==0.4.30 jmespath==1.1.0 joblib==1.6.0
jsonpickle==3.0.4 jsonschema==4.17.3 keras==2.12.0 kiwisolver==1.5.1 libclang==18.1.1 locket==1.0.0
Markdown==3.10.3 MarkupSafe==3.0.4 matplotlib==3.5.3 mattermostwrapper==2.2 ml_dtypes==0.5.4
msgpack==1.2.4 multidict==5.2.0 networkx==2.6.3 numpy==1.23.5 oauthlib==4.0.1 opt_einsum==3.4.0
packaging==20.9 pamqp==3.2.1 partd==1.4.2 pillow==12.3.0 pluggy==1.7.0 portalocker==2.10.1
prompt-toolkit==3.0.28 propcache==0.5.4 protobuf==4.23.3 psycopg2-binary==2.9.13 pyasn1==0.6.5
pyasn1_modules==0.4.2 pycparser==3.11 pydantic==1.10.9 pydot==1.4.2 PyJWT==2.15.1 pykwalify==1.8.0
pymongo==4.3.3 pyparsing==3.3.3 pyrsistent==0.20.0 python-crfsuite==0.9.12 python-dateutil==2.8.2
python-engineio==4.15.1 python-socketio==5.18.1 pytz==2022.7.1 PyYAML==6.0.4 questionary==1.10.0
randomname==0.1.5 rasa==3.6.21 rasa-sdk==3.6.2 redis==4.6.0 regex==2022.10.31 requests==2.34.2
requests-oauthlib==2.0.0 requests-toolbelt==1.0.0 rocketchat-API==1.30.0 ruamel.yaml==0.17.21
ruamel.yaml.clib==0.2.15 s3transfer==0.19.3 safetensors==0.4.5 sanic==21.12.2 Sanic-Cors==2.0.1
sanic-jwt==1.8.0 sanic-routing==0.7.2 scikit-learn==1.1.3 scipy==1.10.1 sentry-sdk==1.14.0
setuptools==70.3.0 simple-websocket==1.1.0 six==1.17.0 sklearn-crfsuite==0.3.6 skops==0.9.0
slack_sdk==3.48.0 SQLAlchemy==1.4.54 structlog==23.3.0 structlog-sentry==2.1.0 tabulate==0.10.0
tarsafe==0.0.4 tensorboard==2.12.3 tensorboard-data-server==0.7.2 tensorflow==2.12.0
tensorflow-estimator==2.12.0 tensorflow-hub==0.13.0 tensorflow-io-gcs-filesystem==0.32.0
tensorflow-text==2.12.0 termcolor==3.3.0 terminaltables==3.1.10 threadpoolctl==3.8.0 tomli==2.5.0
toolz==1.2.0 tqdm==4.70.1 truststore==0.10.5 twilio==8.2.2 typing-utils==0.1.0
typing_extensions==4.16.0 tzlocal==5.4.5 ujson==5.13.0 urllib3==2.8.0 uvloop==0.23.0 wcwidth==0.9.4
webexteamssdk==1.6.1 websockets==10.4 Werkzeug==3.1.9 wheel==0.45.1 wrapt==1.14.2 wsproto==1.3.2
yarl==1.25.1
"

die() {
    echo "scripts/rasa.sh: $*" >&2
    exit 1
}

log() {
    echo "scripts/rasa.sh: $*" >&2
}

rasa_env() {
    # Keep Rasa, TensorFlow, matplotlib and keras out of the user's home and quiet.
    export HOME="$VAR/home"
    export XDG_CONFIG_HOME="$VAR/home/.config"
    export XDG_CACHE_HOME="$VAR/home/.cache"
    export XDG_DATA_HOME="$VAR/home/.local/share"
    export MPLCONFIGDIR="$VAR/home/.config/matplotlib"
    export KERAS_HOME="$VAR/home/.keras"
    export RASA_CACHE_DIRECTORY="$VAR/cache"
    export RASA_TELEMETRY_ENABLED=false
    export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
    export SQLALCHEMY_SILENCE_UBER_WARNING=1
    export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::DeprecationWarning,ignore::UserWarning:tensorflow}"
    mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_DATA_HOME" "$MPLCONFIGDIR" \
        "$RASA_CACHE_DIRECTORY"
}

find_python310() {
    local candidate root
    if [[ -n "${RASA_PYTHON:-}" ]]; then
        "$RASA_PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null \
            || die "RASA_PYTHON=$RASA_PYTHON is not a working Python 3.10"
        echo "$RASA_PYTHON"
        return
    fi
    # A pyenv shim may exist on PATH and still fail, so run each candidate instead of trusting
    # `command -v`.
    root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
    for candidate in python3.10 "$root"/versions/3.10*/bin/python3.10 \
        /usr/local/bin/python3.10 /usr/bin/python3.10; do
        if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1
        then
            command -v "$candidate" 2>/dev/null || echo "$candidate"
            return
        fi
    done
    die "Rasa 3.6 runs on Python 3.8 to 3.10 only; this script uses 3.10, and none" \
        "was found (tried python3.10 on PATH, $root/versions/3.10*, /usr/local/bin and /usr/bin)." \
        "Install one (e.g. \`pyenv install 3.10\`, or your distribution's python3.10 and" \
        "python3.10-venv packages) or point RASA_PYTHON at it."
}

find_uv() {
    # uv (installed in the project's .venv by `make setup`) installs the same set several times
    # faster than pip; pip is the fallback.
    local candidate
    for candidate in "${UV:-}" "$ROOT/.venv/bin/uv" "$(command -v uv 2>/dev/null || true)"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            echo "$candidate"
            return
        fi
    done
}

stamp_file() {
    local digest
    digest="$(printf '%s' "$RASA_VERSION $CONSTRAINTS" | sha256sum | cut -c1-16)"
    echo "$VENV/.newcomer-rasa-$RASA_VERSION-$digest.stamp"
}

cmd_install() {
    local stamp python started uv
    stamp="$(stamp_file)"
    if [[ -f "$stamp" && -x "$VENV/bin/rasa" ]]; then
        log "rasa $RASA_VERSION already installed in $VENV"
        return
    fi
    started=$SECONDS
    python="$(find_python310)"
    if [[ ! -x "$VENV/bin/python" ]] \
        || ! "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null
    then
        log "creating $VENV with $python"
        rm -rf "$VENV"
        "$python" -m venv "$VENV"
    fi
    mkdir -p "$VAR"
    tr ' ' '\n' <<<"$CONSTRAINTS" | grep -v '^$' >"$VAR/constraints.txt"
    uv="$(find_uv)"
    if [[ -n "$uv" ]]; then
        log "installing rasa==$RASA_VERSION into $VENV with $uv"
        "$uv" pip install --quiet --python "$VENV/bin/python" \
            --constraint "$VAR/constraints.txt" "rasa==$RASA_VERSION"
    else
        log "installing rasa==$RASA_VERSION into $VENV with pip (a few minutes the first time)"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            --constraint "$VAR/constraints.txt" "rasa==$RASA_VERSION"
    fi
    rasa_env
    # The env var switches telemetry off for our runs; this also records it in Rasa's own
    # global.yml (under var/rasa/home) so a bare `rasa` from this venv stays quiet too.
    "$VENV/bin/rasa" telemetry disable >/dev/null 2>&1 || true
    rm -f "$VENV"/.newcomer-rasa-*.stamp
    touch "$stamp"
    log "installed rasa $RASA_VERSION in $((SECONDS - started)) s"
}

require_install() {
    [[ -f "$(stamp_file)" && -x "$VENV/bin/rasa" ]] \
        || die "Rasa is not installed in $VENV: run \`bash scripts/rasa.sh install\` first"
}

data_hash() {
    # A hash of the config and of every training file (path and content), in a stable order.
    [[ -f "$CONFIG" ]] || die "no NLU config at $CONFIG"
    [[ -d "$DATA" ]] || die "no training data directory at $DATA"
    {
        printf 'config\n'
        if [[ -x "$VENV/bin/python" ]]; then
            # The parsed config: editing a comment in it does not cost a retraining.
            "$VENV/bin/python" -c 'import json, sys, yaml
print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding="utf-8")), sort_keys=True))' \
                "$CONFIG" || die "cannot read $CONFIG as YAML"
        else
            sha256sum <"$CONFIG"
        fi
        (cd "$DATA" && find -L . -type f \( -name '*.yml' -o -name '*.yaml' \) -print0 \
            | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    } | sha256sum | cut -c1-16
}

model_path() {
    local digest
    digest="$(data_hash)"
    echo "$MODELS/nlu-$digest.tar.gz"
}

cmd_train() {
    local model name started
    require_install
    model="$(model_path)"
    if [[ -f "$model" ]]; then
        log "model up to date: $model"
        return
    fi
    if [[ -z "$(find -L "$DATA" -type f \( -name '*.yml' -o -name '*.yaml' \) -print -quit)" ]]; then
        die "no training data (*.yml) under $DATA"
    fi
    rasa_env
    mkdir -p "$MODELS"
    name="$(basename "$model" .tar.gz)"
    # One training at a time per models directory (tests and benchmarks may call this together).
    (
        flock 9
        if [[ -f "$model" ]]; then
            log "model up to date: $model"
            exit 0
        fi
        log "training $name from $CONFIG and $DATA"
        started=$SECONDS
        cd "$ROOT"
        "$VENV/bin/rasa" train nlu --config "$CONFIG" --nlu "$DATA" --out "$MODELS" \
            --fixed-model-name "$name"
        [[ -f "$model" ]] || die "rasa train finished but $model is missing"
        log "trained $model in $((SECONDS - started)) s"
    ) 9>"$MODELS/.train.lock"
}

cmd_serve() {
    local model args
    require_install
    cmd_train
    model="$(model_path)"
    rasa_env
    args=(run --enable-api -i "$HOST" -p "$PORT" -m "$model")
    if [[ -n "${RASA_TOKEN:-}" ]]; then
        args+=(--auth-token "$RASA_TOKEN")
    fi
    log "serving $model on http://$HOST:$PORT"
    cd "$ROOT"
    exec "$VENV/bin/rasa" "${args[@]}"
}

cmd_validate() {
    require_install
    rasa_env
    cd "$ROOT"
    exec "$VENV/bin/rasa" data validate --data "$DATA" --config "$CONFIG" \
        --domain "$ROOT/nlu/domain.yml"
}

main() {
    case "${1:-}" in
        install) cmd_install ;;
        train) cmd_train ;;
        serve) cmd_serve ;;
        all)
            cmd_install
            cmd_serve
            ;;
        validate) cmd_validate ;;
        model) model_path ;;
        *)
            sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"

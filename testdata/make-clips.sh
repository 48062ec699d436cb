#!/bin/sh
# Regenerates the test clips in this directory with ffmpeg: testsrc2 video,
# yuv420p, 25 fps, a fixed GOP of 25 frames (one keyframe a second, no scene
# cut), a 440 Hz sine for audio, a PCR every 20 ms.
#
# The audio is cut a little shorter than the video (audio frames do not
# divide the video length, and encoders add a priming frame), so the video
# is the longest stream: `slabcast feed --loop` then continues the video
# timeline seamlessly at the loop point. Tests read properties (codecs,
# keyframe counts, PCR), not bytes, so a regenerated clip still passes.
set -eu
cd "$(dirname "$0")"

FF="ffmpeg -hide_banner -loglevel error -y"
SRC="testsrc2=size=640x360:rate=25"
TS="-pcr_period 20 -f mpegts"

# Demo clip: 10 s 640x360 H.264 (~600 kbit/s) + AAC stereo.
$FF -t 10 -f lavfi -i "$SRC" \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=9.96 \
    -map 0:v -map 1:a \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 25 -keyint_min 25 -sc_threshold 0 \
    -b:v 600k -maxrate 600k -bufsize 600k \
    -c:a aac -b:a 96k -ac 2 \
    $TS h264_aac.ts

# 4 s HEVC + MP2.
$FF -t 4 -f lavfi -i "$SRC" \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=3.96 \
    -map 0:v -map 1:a \
    -c:v libx265 -preset veryfast -pix_fmt yuv420p -b:v 500k \
    -x265-params keyint=25:min-keyint=25:scenecut=0:log-level=error \
    -c:a mp2 -b:a 128k -ac 2 \
    $TS hevc_mp2.ts

# 4 s MPEG-2 video (closed GOPs, two B-frames) + MP2.
$FF -t 4 -f lavfi -i "$SRC" \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=3.96 \
    -map 0:v -map 1:a \
    -c:v mpeg2video -pix_fmt yuv420p -g 25 -bf 2 -sc_threshold 1000000000 -flags +cgop -b:v 1500k \
    -c:a mp2 -b:a 128k -ac 2 \
    $TS mpeg2_mp2.ts

# 5 s AAC only (a radio channel): segments are cut on time alone. One AAC
# frame a PES (-pes_payload_size 0), so PCRs come every 21 ms as on air.
$FF -f lavfi -i sine=frequency=440:sample_rate=48000 \
    -t 5 -c:a aac -b:a 96k -ac 2 -pcr_period 20 -pes_payload_size 0 \
    -f mpegts audio_aac.ts

# 4 s MPTS: two programs (service_id 1 and 2), each H.264 + AAC, 320x180.
$FF -f lavfi -i testsrc2=size=320x180:rate=25 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 \
    -f lavfi -i smptebars=size=320x180:rate=25 \
    -f lavfi -i sine=frequency=880:sample_rate=48000 \
    -t 4 -map 0:v -map 1:a -map 2:v -map 3:a \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 25 -keyint_min 25 -sc_threshold 0 -b:v 200k \
    -c:a aac -b:a 64k -ac 2 \
    -program title=one:program_num=1:st=0:st=1 -program title=two:program_num=2:st=2:st=3 \
    $TS mpts.ts

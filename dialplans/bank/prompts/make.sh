#!/bin/sh
# Regenerates the bank example's prompts with espeak-ng and sox (Debian packages
# espeak-ng, sox): 8 kHz mono G.711 mu-law WAV, as a PSTN call carries it (about 8 KB a second).
# Run from this directory; the WAV files are committed so `switchyard check` finds them.
set -eu
say() { # lang file text
    mkdir -p "$(dirname "$2")"
    espeak-ng -v "$1" -s 150 -w "$2.tmp.wav" "$3"
    sox "$2.tmp.wav" -r 8000 -c 1 -e u-law -b 8 "$2.wav" gain -3
    rm -f "$2.tmp.wav"
}
say en welcome "Welcome to Switchyard Bank. 欢迎致电交换银行。"
say cmn language "中文服务请按1。For English, press 2."
say en invalid "Sorry, that is not a valid choice. 输入有误。"
say cmn zh/closed "现在是非工作时间。挂失银行卡请按1。"
say en en/closed "We are closed now. To report a lost card, press 2."
say cmn zh/main "查询余额请按1，银行卡挂失请按2，人工服务请按0。"
say en en/main "For your balance, press 1. To report a lost or stolen card, press 2. To speak to an agent, press 0."
say cmn zh/invalid "输入有误，请重新输入。"
say en en/invalid "Sorry, that is not a valid choice."
say cmn zh/enter-account "请输入您的卡号，以井号键结束。"
say en en/enter-account "Please enter your card number, followed by the hash key."
say cmn zh/unavailable "系统繁忙，正在为您转接人工服务。"
say en en/unavailable "The service is not available. Connecting you to an agent."
say cmn zh/card-loss "正在为您转接挂失专线。"
say en en/card-loss "Connecting you to the card protection desk."
say cmn zh/hold "正在为您转接，请稍候。"
say en en/hold "Please hold while we connect you to an agent."

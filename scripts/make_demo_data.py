#!/usr/bin/env python3
"""make_demo_data.py — build lorac's built-in demo dataset (data/demo/*.jsonl).

The data is a fictional product-support knowledge base for "Lumen", a made-up
brand of smart desk lamps. Everything below was written by hand for lorac: 72
facts, each with one canonical answer and five differently worded customer
questions. Nothing is derived from ../shared or the web.

    python3 scripts/make_demo_data.py            # (re)write data/demo/{train,valid,test}.jsonl
    python3 scripts/make_demo_data.py --check    # exit 1 if the committed files differ

Split (deterministic, no RNG for the split itself): the demo keeps the 30 facts
whose answers are at most 25 words (DEMO_MAX_WORDS), taken in blocks of 15; in
each block 4 facts lend one question to valid, 4 lend one to test, 7 stay
train-only. The held-out question is never a fact's first question, so
every valid/test question asks about a fact that train covers with 4 other
phrasings. Train rows are then shuffled with a fixed seed (random.Random(20240),
whose shuffle is stable across CPython 3 versions) so a loader that keeps file
order does not see one fact five times in a row. Standard library only.
"""
import argparse
import json
import os
import random
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "data", "demo")
SHUFFLE_SEED = 20240
MAX_ANSWER_WORDS = 60
SITE = "support.lumenlamps.example"  # .example is a reserved TLD: never a real site

# Each fact: (key, answer, [5 questions]). Question 0 is the plainest phrasing
# and always stays in train.
FACTS = [
    # ------------------------------------------------------------ models
    ("lineup",
     "Lumen makes four desk lamps: the Lumen Mini (LM-100), Lumen Arc (LA-200), "
     "Lumen Arc Pro (LA-300) and Lumen Halo (LH-400).",
     ["What lamp models does Lumen sell?",
      "Which Lumen lamps are there?",
      "how many models of lumen lamp are there",
      "List the Lumen desk lamp range with model numbers.",
      "I'm shopping for a Lumen lamp. What are my options?"]),
    ("mini_specs",
     "The Lumen Mini (LM-100) gives 350 lumens at 6 W. It charges over USB-C (5 V, 2 A) "
     "and has a built-in 2,600 mAh battery, so it can run unplugged.",
     ["How bright is the Lumen Mini?",
      "What are the specs of the LM-100?",
      "How is the Lumen Mini powered?",
      "Does the Mini have to stay plugged in?",
      "lumen mini wattage and lumens?"]),
    ("mini_battery",
     "A full Lumen Mini battery lasts about 5 hours at full brightness or about 14 hours "
     "at 30%. Charging from empty takes about 2.5 hours.",
     ["How long does the Lumen Mini battery last?",
      "What's the battery life of the LM-100?",
      "How long does it take to charge the Mini?",
      "How many hours will my Mini run at 30 percent brightness?",
      "mini battery life??"]),
    ("arc_specs",
     "The Lumen Arc (LA-200) gives 600 lumens at 10 W and runs from the supplied 12 V, "
     "2 A barrel-plug adapter. Its arm reaches 48 cm and the head rotates 180 degrees.",
     ["What are the Lumen Arc's specifications?",
      "How bright is the Lumen Arc?",
      "What power adapter does the LA-200 use?",
      "How far does the Arc's arm reach?",
      "can the head of the lumen arc rotate"]),
    ("arcpro_specs",
     "The Lumen Arc Pro (LA-300) gives 900 lumens at 14 W and uses the supplied 45 W USB-C PD "
     "adapter. Unlike the Arc, it adds an ambient light sensor, a presence sensor and a Qi "
     "charging pad in the base.",
     ["What does the Arc Pro have that the regular Arc doesn't?",
      "How bright is the LA-300?",
      "What adapter comes with the Lumen Arc Pro?",
      "Arc Pro vs Arc, whats the difference",
      "Tell me the specs of the Lumen Arc Pro."]),
    ("halo_specs",
     "The Lumen Halo (LH-400) is an 18 cm ring light giving 800 lumens at 12 W. It clamps to "
     "desk edges 1 to 6 cm thick and has a 1/4-inch screw on top for a webcam.",
     ["What is the Lumen Halo?",
      "Can I mount my webcam on the Halo?",
      "How thick a desk can the LH-400 clamp onto?",
      "How big is the Lumen Halo ring and how bright is it?",
      "is the halo good for video calls, can it hold a camera"]),
    ("color_temp",
     "The Lumen Mini adjusts from 2700 K to 5000 K. The Arc, Arc Pro and Halo adjust from "
     "2700 K to 6500 K.",
     ["What colour temperature range do Lumen lamps have?",
      "How cool a white can the Lumen Mini produce?",
      "What's the kelvin range of the Arc?",
      "Can the Halo go up to 6500K?",
      "how warm can a lumen lamp go"]),
    ("connectivity",
     "The Lumen Mini connects by Bluetooth only. The Arc, Arc Pro and Halo have 2.4 GHz Wi-Fi "
     "plus Bluetooth LE; no Lumen lamp supports 5 GHz Wi-Fi.",
     ["What wireless connections do Lumen lamps support?",
      "Does the Lumen Mini have Wi-Fi?",
      "Can I connect my Arc to a 5 GHz network?",
      "does the halo have bluetooth",
      "Which Lumen models work over Wi-Fi?"]),
    ("arcpro_sensors",
     "The Arc Pro's presence sensor detects a person up to 1.5 m away, and its ambient light "
     "sensor measures the light on your desk for Auto-brightness.",
     ["What sensors are in the Lumen Arc Pro?",
      "How far can the Arc Pro presence sensor see?",
      "What is the ambient light sensor on the LA-300 for?",
      "Does the Arc Pro know when I'm sitting at my desk?",
      "range of the presense sensor on arc pro?"]),
    ("qi_pad",
     "The Arc Pro's Qi pad charges phones at up to 10 W. Centre the phone on the Lumen logo on "
     "the base; cases thicker than 5 mm can stop it charging.",
     ["How fast is the wireless charger in the Arc Pro?",
      "Can the Lumen Arc Pro charge my phone?",
      "Where do I put my phone to charge it on the LA-300?",
      "Does the Qi pad work through a phone case?",
      "wireless charging wattage arc pro"]),
    # ------------------------------------------------------------ firmware
    ("fw_versions",
     "The latest firmware is 2.3.1 for the Lumen Mini, 4.1.0 for the Arc and Arc Pro, and "
     "1.8.2 for the Halo. Your lamp's version is shown in the Lumen Home app under "
     "Settings > About.",
     ["What is the latest firmware for Lumen lamps?",
      "Which firmware version should my Halo be on?",
      "How do I check what firmware my lamp has?",
      "latest mini firmware?",
      "Is 4.0.2 the newest firmware for the Arc Pro?"]),
    ("fw_update",
     "In the Lumen Home app choose your lamp, then Settings > Firmware > Check for updates. "
     "Keep the lamp plugged in; the update takes about 6 minutes and the status light pulses "
     "blue.",
     ["How do I update my lamp's firmware?",
      "How long does a firmware update take on the Arc?",
      "Where in the app is the firmware update button?",
      "how to install new firmware on lumen halo",
      "What do I need to do to update the Arc Pro?"]),
    ("fw_mini",
     "The Lumen Mini updates over Bluetooth from the Lumen Home app. Keep your phone within "
     "2 m with the app open; the update takes about 10 minutes.",
     ["How do I update the firmware on the Lumen Mini?",
      "How does the Mini get updates without Wi-Fi?",
      "How long does updating the LM-100 take?",
      "my mini has no wifi, how do i update it",
      "Do I need to stay near the Mini during an update?"]),
    ("fw_interrupted",
     "If an update is interrupted, the lamp starts in recovery mode with a slow amber blink. "
     "Plug it back in, open the Lumen Home app and tap Resume update; your settings are kept.",
     ["What happens if a firmware update is interrupted?",
      "My lamp is slowly blinking amber after an update. What do I do?",
      "I unplugged the lamp while it was updating. Is it broken?",
      "How do I get my lamp out of recovery mode?",
      "power went out in the middle of the update"]),
    ("fw_410",
     "Firmware 4.1.0 for the Arc and Arc Pro added the Focus Timer, fixed Wi-Fi dropouts on "
     "some mesh routers and fixed the Arc Pro presence sensor being too sensitive.",
     ["What's new in firmware 4.1.0?",
      "What changed in the latest Arc firmware?",
      "Why should I update my Arc Pro to 4.1.0?",
      "release notes for 4.1.0 please",
      "Does firmware 4.1.0 fix any bugs?"]),
    ("fw_auto",
     "On the Arc, Arc Pro and Halo, automatic updates are on by default and install between "
     "02:00 and 04:00 local time. Turn them off under Settings > Firmware > Auto-update.",
     ["Does my lamp update itself?",
      "When do automatic firmware updates install?",
      "How do I turn off auto-update?",
      "my lamp restarted at 3 am, why",
      "Can I stop the Arc from updating on its own?"]),
    ("fw_downgrade",
     "Lumen firmware cannot be rolled back: once an update is installed, the lamp cannot "
     "return to an older version.",
     ["Can I downgrade the firmware?",
      "How do I go back to the previous firmware version?",
      "Is it possible to roll back a firmware update?",
      "i dont like the new firmware can i revert it",
      "Can I reinstall firmware 4.0.2 on my Arc?"]),
    # ------------------------------------------------------------ error codes
    ("err_display",
     "Error codes show on the status light: it blinks red once per code number (three blinks "
     "for E3), pauses, then repeats. The Lumen Home app shows the code too.",
     ["How do I read a Lumen error code?",
      "The light on the base is blinking red. What does that mean?",
      "Where do error codes show up?",
      "How are error codes displayed on the lamp?",
      "why does my lamp blink red a few times then pause"]),
    ("err_e1",
     "E1 means the supply voltage is too low. Use the original Lumen adapter and cable, and "
     "plug it straight into a wall socket rather than a hub or extension.",
     ["What does error E1 mean?",
      "My lamp shows E1.",
      "e1 error lumen",
      "I'm getting error code 1 on my Arc.",
      "My lamp blinks red once, pauses, and repeats. What's wrong?"]),
    ("err_e2",
     "E2 means Wi-Fi authentication failed, usually because of a wrong password. Re-enter it "
     "under Settings > Wi-Fi > Change network in the Lumen Home app.",
     ["What is error E2?",
      "The app says E2 after I set up Wi-Fi.",
      "e2 on my halo",
      "Error code 2 on the Arc Pro, what should I do?",
      "What does E2 mean on a Lumen lamp?"]),
    ("err_e3",
     "E3 means the lamp cannot reach the Lumen cloud. Check your internet connection; the lamp "
     "still works from its touch panel and over Bluetooth meanwhile.",
     ["What does E3 mean?",
      "My lamp shows E3. Can I still use it?",
      "E3 error code",
      "lumen says e3, is the cloud down?",
      "Why do I get error 3 on my Halo?"]),
    ("err_e4",
     "E4 means a touch panel fault. Wipe the panel with a dry cloth and unplug the lamp for 30 "
     "seconds; if E4 comes back, contact Lumen support.",
     ["What does error E4 mean?",
      "My lamp is showing E4.",
      "e4 error on lumen arc",
      "What should I do about error code 4?",
      "The status light blinks red four times. What is that?"]),
    ("err_e5",
     "E5 means the Lumen Mini's battery is too cold or too hot, so charging is paused. It "
     "charges only between 0 °C and 40 °C and resumes by itself.",
     ["What does E5 mean?",
      "My Mini shows E5 and won't charge.",
      "e5 error mini",
      "Why did my Lumen Mini stop charging with error 5?",
      "What is error code E5 on the LM-100?"]),
    ("err_e6",
     "E6 means the downloaded firmware failed its checksum. Keep the lamp plugged in and run "
     "the update again from the Lumen Home app.",
     ["What does error E6 mean?",
      "My update failed with E6.",
      "e6 lumen",
      "What should I do about error code 6 during an update?",
      "The status light blinks red six times after updating. Why?"]),
    ("err_e7",
     "E7 means the LED driver overheated. Unplug the lamp for 10 minutes and make sure the "
     "vents on the lamp head are not covered.",
     ["What does error E7 mean?",
      "My lamp turned off and shows E7.",
      "e7 error arc pro",
      "How do I fix error code 7?",
      "The light blinks red seven times. What is wrong?"]),
    ("err_e8",
     "E8 means the Arc Pro's Qi pad detected a metal object. Remove coins, keys or cards with "
     "metal from the base and the pad restarts by itself.",
     ["What does error E8 mean?",
      "My Arc Pro shows E8.",
      "e8 on the charging pad",
      "Why does my LA-300 give error code 8?",
      "What is error E8 on a Lumen lamp?"]),
    ("err_e9",
     "E9 means the Arc Pro presence sensor failed its self-test. Recalibrate it in the Lumen "
     "Home app under Settings > Presence > Calibrate.",
     ["What does error E9 mean?",
      "My Arc Pro shows E9.",
      "e9 error",
      "How do I fix error code 9 on the Arc Pro?",
      "What is E9 on a Lumen lamp?"]),
    # ------------------------------------------------------------ status light
    ("status_light",
     "Steady white means on and connected, pulsing blue means updating, blinking green means "
     "pairing mode, a slow amber blink means recovery mode, and red blinks show an error code.",
     ["What do the status light colours mean?",
      "Why is the light on the base blinking green?",
      "What does a steady white status light mean?",
      "status led colors meaning",
      "The small light on my lamp is pulsing blue. Is that normal?"]),
    ("status_light_off",
     "In the Lumen Home app, Settings > Status light lets you dim the status light or turn it "
     "off; error codes still blink red.",
     ["Can I turn off the status light?",
      "The little light on the base keeps me awake. Can I dim it?",
      "how to disable the status led",
      "Is there a way to make the status light less bright?",
      "Can the indicator light on the Arc be switched off?"]),
    # ------------------------------------------------------------ app and settings
    ("app",
     "The Lumen Home app is free, runs on iOS 15 or later and Android 9 or later, and controls "
     "all four Lumen models.",
     ["What app do Lumen lamps use?",
      "Which phones does the Lumen Home app support?",
      "Does the Lumen app work on Android 8?",
      "is the lumen app free",
      "What iOS version do I need for the Lumen Home app?"]),
    ("pairing",
     "Hold the power button for 5 seconds until the status light blinks green, then in the "
     "Lumen Home app tap + > Add lamp and follow the steps.",
     ["How do I pair my lamp with the app?",
      "How do I add a new Lumen lamp to the Lumen Home app?",
      "how do i put the lamp in pairing mode",
      "What's the setup process for a new Arc?",
      "How do I connect my Lumen lamp to my phone?"]),
    ("account",
     "An account is optional: in Local mode you control the lamp over Bluetooth without one. "
     "An account is needed for remote control, voice assistants and sharing.",
     ["Do I need a Lumen account to use the lamp?",
      "Can I use the app without signing up?",
      "What is Local mode?",
      "what do i need an account for",
      "Is registering an account required to control my Arc?"]),
    ("scenes",
     "There are four built-in scenes: Focus (5000 K, 100%), Read (4000 K, 80%), Relax (2700 K, "
     "40%) and Night (2700 K, 5%, status light off).",
     ["What scenes are built into Lumen lamps?",
      "What does the Relax scene do?",
      "Which scene is best for reading?",
      "what brightness is night scene",
      "What colour temperature does the Focus scene use?"]),
    ("daylight_sync",
     "Daylight Sync shifts colour temperature from 6500 K at midday to 2700 K after sunset, "
     "using your phone's location. It works on the Arc, Arc Pro and Halo, not the Mini.",
     ["What is Daylight Sync?",
      "Does the Lumen Mini support Daylight Sync?",
      "Can my lamp change colour temperature through the day automatically?",
      "circadian mode lumen?",
      "Why does my lamp get warmer in the evening?"]),
    ("focus_timer",
     "Focus Timer runs 25 minutes of work then a 5-minute break, dimming the lamp to 30% "
     "during breaks. It needs firmware 4.1.0 on the Arc or Arc Pro.",
     ["What is the Focus Timer?",
      "How does the Focus Timer work?",
      "Why can't I find the Focus Timer on my Arc?",
      "pomodoro timer on lumen lamp?",
      "Why did my lamp dim to 30% after 25 minutes?"]),
    ("schedules",
     "Each lamp holds up to 12 schedules. They are stored on the lamp, so they keep running "
     "without internet once set.",
     ["How many schedules can a lamp have?",
      "Do schedules work if my internet is down?",
      "Where are lamp schedules stored?",
      "max number of schedules?",
      "Will my wake-up schedule still run if the Wi-Fi router is off?"]),
    ("auto_brightness",
     "Auto-brightness on the Arc Pro uses the ambient light sensor to keep your desk at a "
     "target level, 500 lux by default, adjustable under Settings > Auto-brightness.",
     ["What is Auto-brightness?",
      "What light level does Auto-brightness aim for?",
      "Why does my Arc Pro get brighter when it gets dark outside?",
      "how do i change the auto brightness target",
      "Which Lumen lamp adjusts its brightness to the room?"]),
    ("presence_off",
     "The Arc Pro switches off after 10 minutes with nobody detected. Change the delay from 1 "
     "to 60 minutes, or turn it off, under Settings > Presence.",
     ["Why does my Arc Pro turn off by itself?",
      "How long before the Arc Pro switches off when I leave?",
      "Can I change the presence auto-off delay?",
      "arc pro keeps shutting off when im reading",
      "How do I stop the LA-300 from turning off when I step away?"]),
    ("sharing",
     "Up to 6 household members can control a lamp. Invite them in the Lumen Home app under "
     "Settings > Sharing > Invite.",
     ["How do I share my lamp with my family?",
      "How many people can control one lamp?",
      "Can my partner use the app to control my lamp too?",
      "share lamp with roommate",
      "Where is the invite option for other users?"]),
    ("voice",
     "Lumen Wi-Fi lamps work with Amazon Alexa and Google Home once you link your Lumen "
     "account. Apple HomeKit is not supported, and the Mini has no voice control.",
     ["Does Lumen work with Alexa?",
      "Can I control my Halo with Google Home?",
      "Is Apple HomeKit supported?",
      "can i use siri with my lumen lamp",
      "Does the Lumen Mini work with voice assistants?"]),
    ("child_lock",
     "Turn on Child lock in the Lumen Home app under Settings > Child lock. It disables the "
     "touch panel; the app and schedules still work.",
     ["How do I turn on Child lock?",
      "My kids keep switching the lamp on and off. Can I lock the buttons?",
      "How do I disable the touch panel?",
      "child lock lumen",
      "Does Child lock stop schedules from working?"]),
    ("wifi_change",
     "In the Lumen Home app go to Settings > Wi-Fi > Change network while the lamp is still "
     "online. If the old network is gone, factory reset the lamp and pair it again.",
     ["How do I move my lamp to a new Wi-Fi network?",
      "I got a new router. How do I reconnect my Arc?",
      "How can I change the Wi-Fi password stored on the lamp?",
      "change wifi network halo",
      "My old Wi-Fi no longer exists. How do I set up the new one?"]),
    ("wifi_requirements",
     "Lumen lamps need a 2.4 GHz network using WPA2 or WPA3. Networks with a login page, such "
     "as hotel or campus Wi-Fi, are not supported.",
     ["What kind of Wi-Fi network does a Lumen lamp need?",
      "Can I use my Arc on hotel Wi-Fi?",
      "Does the Halo work on a university network with a login page?",
      "which wifi security does lumen support",
      "Will my lamp work with a WPA3 router?"]),
    # ------------------------------------------------------------ controls
    ("touch_panel",
     "Tap the touch panel to switch on or off, slide to change brightness, long-press for 2 "
     "seconds to cycle colour temperature, and double-tap to recall the last scene.",
     ["How do the touch controls work?",
      "How do I change brightness without the app?",
      "How do I change the colour temperature on the lamp itself?",
      "what does double tap do",
      "What gestures does the touch panel support?"]),
    # ------------------------------------------------------------ troubleshooting
    ("factory_reset",
     "Hold the power button for 15 seconds until the status light flashes white three times. "
     "This erases Wi-Fi details, schedules and sharing, so pair the lamp again afterwards.",
     ["How do I factory reset my lamp?",
      "How can I wipe all settings from my Lumen lamp?",
      "What gets deleted when I reset the lamp?",
      "factory reset lumen arc",
      "How long do I hold the button to reset the lamp?"]),
    ("restart",
     "Unplug the lamp for 30 seconds, then plug it back in; your settings are kept. For the "
     "Mini, switch it off, unplug the cable, wait 30 seconds and switch it back on.",
     ["How do I restart my lamp?",
      "Is there a soft reset that keeps my settings?",
      "How do I reboot the Lumen Mini?",
      "restart lamp without losing settings",
      "What's the right way to power cycle the Arc?"]),
    ("flicker",
     "Flicker usually comes from a non-Lumen adapter, or from firmware older than 4.0 at "
     "brightness below 5%. Use the original adapter and update the firmware.",
     ["Why is my lamp flickering?",
      "My Arc flickers when dimmed very low.",
      "lamp flickers with a different charger",
      "How do I stop the light from flickering?",
      "Why does the light flicker at low brightness?"]),
    ("not_found",
     "Turn on Bluetooth (and Location permission on Android), stay within 3 m of the lamp, and "
     "put it in pairing mode by holding the power button for 5 seconds.",
     ["The app can't find my lamp. What should I do?",
      "Why doesn't my lamp show up in Lumen Home?",
      "lamp not found during setup",
      "Add lamp keeps searching forever.",
      "My Android phone can't see the lamp when I try to pair it."]),
    ("wifi_drops",
     "Check the lamp is on a 2.4 GHz network with signal stronger than -70 dBm (shown under "
     "Settings > Wi-Fi). On mesh routers, update the Arc or Arc Pro to firmware 4.1.0.",
     ["Why does my lamp keep disconnecting from Wi-Fi?",
      "My Arc drops off the network every few hours.",
      "lamp goes offline all the time",
      "How do I fix Wi-Fi dropouts on a mesh network?",
      "What Wi-Fi signal strength does the lamp need?"]),
    ("mini_charging",
     "Use a USB-C cable rated for at least 2 A. The charging light is orange while charging "
     "and green when full; five red blinks mean the battery is too cold or hot (E5).",
     ["My Lumen Mini won't charge. What should I check?",
      "What colour is the Mini's light while charging?",
      "How do I know when the Mini is fully charged?",
      "mini not charging with my cable",
      "Which USB-C cable should I use for the LM-100?"]),
    ("touch_dead",
     "First check that Child lock is off in the app. Then wipe the panel with a dry cloth; if "
     "it still does not respond or shows E4, contact support.",
     ["My touch panel doesn't respond. What can I do?",
      "The lamp ignores my taps.",
      "touch controls stopped working",
      "Why can't I turn the lamp on by tapping it?",
      "Sliding on the panel doesn't change brightness any more."]),
    ("qi_not_charging",
     "Remove cases thicker than 5 mm and centre the phone on the Lumen logo on the base. If the "
     "status light blinks red eight times (E8), remove any metal objects.",
     ["My phone won't charge on the Arc Pro. Why?",
      "The Qi pad isn't charging my phone.",
      "wireless charging not working arc pro",
      "Why does my phone stop charging on the lamp base?",
      "Phone placed on the LA-300 base but nothing happens."]),
    ("hot_head",
     "The lamp head can reach 45 °C in normal use. If the lamp shuts off and shows E7, unplug "
     "it for 10 minutes and keep the vents clear.",
     ["Is it normal for the lamp head to get hot?",
      "How hot should the Arc get?",
      "lamp head very warm to touch",
      "What temperature does the lamp head reach?",
      "Should I worry that my Halo feels hot?"]),
    # ------------------------------------------------------------ warranty
    ("warranty",
     "Lumen lamps have a 2-year warranty from the delivery date. The Lumen Mini's battery is "
     "covered for 1 year.",
     ["How long is the warranty on Lumen lamps?",
      "Is the Mini's battery covered by warranty?",
      "When does my warranty start?",
      "warranty period lumen arc",
      "How many years of warranty do I get?"]),
    ("lumen_care",
     "Lumen Care extends the warranty by 3 years, to 5 years in total. It costs $19 for the "
     "Mini and $29 for other models, and must be bought within 60 days of purchase.",
     ["What is Lumen Care?",
      "How much does the extended warranty cost?",
      "Can I buy an extended warranty later?",
      "lumen care price for arc pro",
      "How long does the warranty last with Lumen Care?"]),
    ("warranty_exclusions",
     "The warranty does not cover water damage, damage from non-Lumen adapters, cosmetic "
     "scratches, or lamps whose housing has been opened.",
     ["What isn't covered by the warranty?",
      "Is water damage covered?",
      "I used a third-party adapter and the lamp died. Is that covered?",
      "does warranty cover scratches",
      "Will opening the lamp void the warranty?"]),
    ("warranty_claim",
     f"Start a claim at {SITE} with your order number or proof of purchase and the lamp's "
     "serial number.",
     ["How do I make a warranty claim?",
      "My lamp broke. How do I claim the warranty?",
      "What do I need to file a warranty claim?",
      "warranty claim website",
      "Where do I send a warranty request?"]),
    ("serial",
     "The serial number is 12 characters starting with LU, printed on a sticker under the base. "
     "It is also shown in the Lumen Home app under Settings > About.",
     ["Where is the serial number?",
      "How do I find my lamp's serial number?",
      "What does a Lumen serial number look like?",
      "serial number location arc",
      "The sticker under my lamp is gone. Where else can I see the serial?"]),
    ("warranty_replacement",
     "After a claim is approved, Lumen ships a replacement within 5 business days and emails a "
     "prepaid label for returning the faulty lamp.",
     ["What happens after my warranty claim is approved?",
      "How fast will I get a replacement lamp?",
      "Do I have to pay to send the broken lamp back?",
      "how long for a warranty replacement",
      "When will my replacement ship?"]),
    # ------------------------------------------------------------ shipping and returns
    ("returns",
     "You can return a lamp within 30 days of delivery for a full refund, even if used, as "
     "long as all accessories are included. Return shipping is free with a prepaid label.",
     ["What is your return policy?",
      "Can I return a lamp I've already used?",
      "How many days do I have to return my lamp?",
      "do i pay for return shipping",
      "I don't like my Halo. Can I send it back?"]),
    ("refund_time",
     "Refunds go to the original payment method within 7 business days after the return "
     "reaches the Lumen warehouse.",
     ["How long does a refund take?",
      "When will I get my money back?",
      "Where does the refund go?",
      "refund still not here",
      "How soon after you receive my return is the refund issued?"]),
    ("shipping_options",
     "Standard shipping is free and takes 3 to 6 business days. Express shipping costs $12 and "
     "takes 1 to 2 business days.",
     ["What shipping options are there?",
      "How much is express shipping?",
      "How long does standard delivery take?",
      "is shipping free",
      "Can I get my lamp faster?"]),
    ("ship_countries",
     "Lumen ships to the United States, Canada, the United Kingdom and the European Union only.",
     ["Which countries do you ship to?",
      "Do you ship to Australia?",
      "Can I order a Lumen lamp from Germany?",
      "do you deliver to canada",
      "Is international shipping available?"]),
    ("tracking",
     "Orders usually ship within 24 hours on business days, and a tracking link is emailed when "
     "the order ships.",
     ["How do I track my order?",
      "When will my order ship?",
      "I haven't got a tracking number yet.",
      "wheres my tracking link",
      "How quickly do you dispatch orders?"]),
    ("transit_damage",
     f"Report transit damage within 14 days with photos at {SITE}. Lumen sends a free "
     "replacement, and you don't need to return the damaged lamp.",
     ["My lamp arrived damaged. What do I do?",
      "The box was crushed and the arm is bent.",
      "How long do I have to report shipping damage?",
      "lamp arrived broken",
      "Do I need to send back a lamp that was damaged in the post?"]),
    ("order_change",
     "You can change or cancel an order within 2 hours of placing it, from the order "
     "confirmation email. After that, use the 30-day return instead.",
     ["Can I cancel my order?",
      "How do I change the address on my order?",
      "I ordered the wrong model. Can I change it?",
      "cancel order lumen",
      "How long do I have to edit an order?"]),
    ("plugs",
     "Each lamp ships with the adapter plug for the country you order from (US, UK or EU type; "
     "Canada gets the US plug). Lumen adapters accept 100-240 V.",
     ["What plug does the adapter have?",
      "Can I use my Arc in another country?",
      "Does the adapter work on 230 V?",
      "which plug do i get in the uk",
      "Will the power adapter work in Europe if I bought it in the US?"]),
    # ------------------------------------------------------------ safety and care
    ("indoor_only",
     "Lumen lamps are for indoor, dry use only (IP20). Do not use them in bathrooms or "
     "outdoors.",
     ["Can I use a Lumen lamp outside?",
      "Is the lamp safe in a bathroom?",
      "What is the IP rating of Lumen lamps?",
      "is the arc waterproof",
      "Can I put my Halo on the balcony?"]),
    ("cleaning",
     "Unplug the lamp and wipe it with a dry or slightly damp microfibre cloth. Do not use "
     "alcohol, solvents or sprays.",
     ["How should I clean my lamp?",
      "Can I use alcohol wipes on the lamp?",
      "What's safe to clean the Arc with?",
      "how to clean lumen halo",
      "Is glass cleaner OK for the lamp head?"]),
    ("battery_safety",
     "Charge the Mini only between 0 °C and 40 °C, and don't leave it in a hot car or direct "
     "sun. Stop using it if the battery swells.",
     ["Is it safe to leave the Mini in my car?",
      "What are the battery safety rules for the Lumen Mini?",
      "My Mini's case is bulging. Can I keep using it?",
      "can i charge the mini in the cold",
      "What temperature can the LM-100 be charged at?"]),
    ("clearance",
     "Never cover the lamp head or vents with cloth or paper, and keep 10 cm of free space "
     "around the head.",
     ["Can I drape a cloth over the lamp to soften the light?",
      "How much space does the lamp head need?",
      "Is it okay to cover the vents?",
      "can i put paper over the lamp",
      "What clearance should I leave around the lamp?"]),
    ("arm_load",
     "Don't hang anything from the Arc arm or the Halo ring. They are rated only for a webcam "
     "of up to 300 g on the mounting screw.",
     ["Can I hang things on the lamp arm?",
      "How heavy a webcam can the Halo hold?",
      "What's the weight limit for the mounting screw?",
      "can i hang my headphones on the halo",
      "Is it safe to put a heavy camera on the Lumen Halo?"]),
]

# The demo trains on the facts with the shortest answers (at most 25 words:
# 30 of the 72, from every topic): fewer, shorter pairs that SmolLM2-135M
# learns visibly in a few minutes on 2 CPU cores (the measured sweep behind
# this choice is in docs/tutorial.md).
DEMO_MAX_WORDS = 25
BLOCK = 15  # per block of 15 demo facts: 4 lend a question to valid, 4 to test, 7 stay train-only


def split_rows():
    """Return (train, valid, test) lists of {"prompt", "completion"} dicts."""
    train, valid, test = [], [], []
    demo = [f for f in FACTS if len(f[1].split()) <= DEMO_MAX_WORDS]
    for i, (_key, answer, questions) in enumerate(demo):
        r = i % BLOCK
        held = 1 + (i // BLOCK + r) % 4  # which of questions[1..4] is held out
        dest = valid if r < 4 else test if r < 8 else None
        for j, q in enumerate(questions):
            row = {"prompt": q, "completion": answer}
            (dest if dest is not None and j == held else train).append(row)
    random.Random(SHUFFLE_SEED).shuffle(train)
    return train, valid, test


def validate():
    """Check the hand-written table; raise ValueError naming the fact on a problem."""
    keys, seen = set(), {}
    for i, fact in enumerate(FACTS):
        if len(fact) != 3:
            raise ValueError("fact %d: expected (key, answer, questions)" % i)
        key, answer, questions = fact
        if key in keys:
            raise ValueError("fact %s: duplicate key" % key)
        keys.add(key)
        n_words = len(answer.split())
        if n_words > MAX_ANSWER_WORDS:
            raise ValueError("fact %s: answer has %d words, expected <= %d"
                             % (key, n_words, MAX_ANSWER_WORDS))
        if len(questions) != 5:
            raise ValueError("fact %s: expected 5 questions, found %d" % (key, len(questions)))
        for q in questions:
            norm = " ".join(q.lower().replace("?", "").replace(".", "").split())
            if norm in seen:
                raise ValueError("fact %s: question %r duplicates one of fact %s"
                                 % (key, q, seen[norm]))
            seen[norm] = key
        for s in [answer] + questions:
            if s != s.strip() or "  " in s or "\n" in s:
                raise ValueError("fact %s: stray whitespace in %r" % (key, s))


def render(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=OUT_DIR, help="output directory (default data/demo)")
    ap.add_argument("--check", action="store_true",
                    help="compare with the files in --out instead of writing; exit 1 if they differ")
    args = ap.parse_args()

    validate()
    train, valid, test = split_rows()
    answers = {r["completion"] for r in train}
    for r in valid + test:  # held-out questions must be about facts train teaches
        assert r["completion"] in answers, r
    files = {"train.jsonl": render(train), "valid.jsonl": render(valid), "test.jsonl": render(test)}

    if args.check:
        bad = 0
        for name, text in files.items():
            path = os.path.join(args.out, name)
            try:
                with open(path, encoding="utf-8") as f:
                    ok = f.read() == text
            except OSError as e:
                print("%s: cannot read: %s" % (path, e), file=sys.stderr)
                ok = False
            if not ok:
                print("%s: differs from what make_demo_data.py generates" % path, file=sys.stderr)
                bad += 1
        if bad:
            return 1
        print("data/demo is up to date: %d facts, train %d, valid %d, test %d"
              % (len(FACTS), len(train), len(valid), len(test)))
        return 0

    os.makedirs(args.out, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(args.out, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    print("wrote %s: %d facts, train %d, valid %d, test %d"
          % (args.out, len(FACTS), len(train), len(valid), len(test)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
